"""The built-in corpus: short children's stories generated from word lists and sentence templates.

Each story is built from a random.Random seeded by (seed, index), so any story can be regenerated
alone and the whole corpus needs no download. A story follows one arc (a hero, a place, a small
problem, dialogue, a resolution, an ending) with many interchangeable sentence shapes, which gives a
small model regular patterns to learn and a vocabulary of a few thousand words.

Trade-off: the text is grammatical but shallow; it is for learning the mechanics of training (loss
curves, sampling, overfitting) in minutes on a CPU, not for measuring language understanding.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

BUILTIN_SOURCE = "builtin"
DEFAULT_NUM_STORIES = 20_000


def _words(text: str) -> tuple[str, ...]:
    """Split a list written as 'a, b c, d' (commas separate items; items may hold spaces)."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


# ------------------------------------------------------------------------------ word lists

GIRL_NAMES = _words(
    "Amara, Bella, Clara, Daisy, Elsa, Fiona, Greta, Hazel, Iris, June, Kira, Lila, Maya, Nora, "
    "Olive, Pia, Quinn, Rosa, Sadie, Tessa, Uma, Vera, Wren, Yara, Zoe, Ada, Bea, Cora, Dora, "
    "Ella, Freya, Gemma, Hana, Ivy, Jade, Kate, Lucy, Mila, Nina, Opal, Poppy, Ruby, Sara, Tara, "
    "Luna, Violet, Willa, Zara, Alma, Birdie, Celia, Delia, Edie, Flora, Gwen, Holly, Isla, Joy, "
    "Lena, Mabel, Nell, Pearl, Rita, Stella, Tilly, Una, Vivi, Winnie, Anya, Bonnie, Callie, "
    "Dina, Elena, Fern, Gia, Hope, Imani, Juno, Leah, Mira, Noor, Paloma, Rhea, Sky, Thea, "
    "Abby, Bridget, Chloe, Dolores, Esme, Frida, Georgia, Harriet, Ines, Josie, Katya, Lottie, "
    "Marisol, Nadia, Odette, Priya, Rosalind, Sofia, Talia, Valentina, Xiomara, Yasmin, Zelda"
)
BOY_NAMES = _words(
    "Adam, Ben, Carlos, Dev, Eli, Finn, Gus, Hugo, Ian, Jack, Kai, Leo, Max, Nate, Omar, Pablo, "
    "Quentin, Rafi, Sam, Theo, Umar, Victor, Will, Xavier, Yusuf, Zane, Arlo, Bruno, Caleb, Dante, "
    "Emil, Felix, George, Henry, Isaac, Jonah, Kofi, Liam, Milo, Noah, Oscar, Peter, Rowan, Simon, "
    "Toby, Ulysses, Vince, Wes, Ari, Basil, Cody, Dmitri, Ezra, Frank, Gabe, Harvey, Iggy, Jasper, "
    "Kenji, Luca, Marco, Nico, Otis, Percy, Reggie, Sunil, Tariq, Vito, Walter, Amir, Benny, "
    "Cyrus, Dylan, Elliot, Ferdie, Gil, Hank, Jude, Louis, Matteo, Ned, Ollie, Rudy, Stanley, Ted, "
    "Alfie, Barnaby, Cedric, Desmond, Edgar, Fabian, Gideon, Hamish, Ivan, Jerome, Kwame, "
    "Lorenzo, Mateo, Nikolai, Orson, Pedro, Raul, Sebastian, Thaddeus, Vikram, Wolfgang, Yosef"
)
ANIMALS = _words(
    "cat, dog, bunny, fox, bear, owl, duck, frog, mouse, pig, lamb, goat, cow, horse, pony, "
    "hedgehog, squirrel, turtle, tortoise, rabbit, kitten, puppy, "
    "chick, hen, rooster, goose, swan, "
    "deer, moose, beaver, otter, badger, raccoon, skunk, mole, bat, lizard, snail, ladybug, "
    "butterfly, caterpillar, bee, ant, spider, penguin, seal, "
    "walrus, whale, dolphin, octopus, crab, "
    "starfish, jellyfish, shark, fish, parrot, robin, sparrow, "
    "crow, eagle, hawk, pelican, flamingo, "
    "peacock, ostrich, kangaroo, koala, panda, tiger, lion, leopard, cheetah, zebra, giraffe, "
    "elephant, hippo, rhino, monkey, gorilla, sloth, camel, llama, donkey, wolf, coyote, chipmunk, "
    "hamster, guinea pig, ferret, goldfish, dragonfly, firefly, cricket, grasshopper, worm, "
    "woodpecker, hummingbird, puffin, yak, bison, armadillo, porcupine, lemur, toucan, seahorse, "
    "lobster, salamander, newt, toad, weasel, mule, dove, pigeon, crane, heron, stork, beetle, moth"
)
PEOPLE = _words(
    "girl, boy, baker, farmer, painter, sailor, pilot, doctor, "
    "nurse, teacher, gardener, fisherman, "
    "mail carrier, firefighter, shopkeeper, librarian, inventor, astronaut, knight, princess, "
    "prince, king, queen, wizard, giant, dragon, robot, pirate, clown, juggler, musician, drummer, "
    "singer, dancer, builder, carpenter, tailor, potter, beekeeper, shepherd, zookeeper, "
    "lighthouse keeper, mapmaker, cook, chef, grandma, grandpa, aunt, uncle, neighbor, "
    "scientist, explorer, detective, magician, mermaid, elf, troll, fairy, unicorn, snowman"
)
PLACES = _words(
    "forest, meadow, village, town, city, farm, garden, park, beach, island, mountain, hill, "
    "valley, river, lake, pond, swamp, desert, jungle, cave, castle, tower, palace, cottage, "
    "cabin, barn, lighthouse, harbor, market, bakery, library, school, playground, zoo, museum, "
    "circus, fair, orchard, vineyard, field, canyon, glacier, volcano, waterfall, creek, bay, "
    "marsh, prairie, woods, grove, tree house, attic, cellar, kitchen, backyard, rooftop, "
    "station, airport, bridge, tunnel, street, alley, square, fountain, pier, campsite, "
    "greenhouse, treetop, burrow, nest, hive, den, windmill, mill, bookshop, toy shop, "
    "ice rink, swimming pool, hospital, post office, fire station, train station, bus stop, "
    "sand dune, coral reef, rainforest, snowfield, moon, spaceship, submarine, sailboat, "
    "bandstand, boathouse, carousel, chapel, courtyard, dairy, dock, farmhouse, ferris wheel, "
    "gazebo, hayloft, igloo, junkyard, kennel, lagoon, maze, observatory, pasture, quarry, "
    "ranch, sawmill, schoolyard, stable, theater, toolshed, workshop, aquarium, bakehouse"
)
TOYS = _words(
    "ball, kite, doll, teddy bear, yo-yo, top, puzzle, drum, whistle, train set, toy car, "
    "robot toy, jump rope, hula hoop, marble, balloon, rocking horse, puppet, spinning wheel, "
    "wagon, scooter, bicycle, skateboard, sled, boat, paper plane, bucket, shovel, crayon, "
    "paintbrush, sketchbook, storybook, music box, harmonica, flute, xylophone, tambourine, "
    "ukulele, block tower, sand castle, dollhouse, toy dinosaur, stuffed rabbit, rag doll, "
    "bouncy ball, frisbee, magnifying glass, compass, flashlight, telescope, pinwheel, "
    "snow globe, jigsaw, board game, deck of cards, chalk, sticker, ribbon, feather, seashell, "
    "pebble, acorn, pine cone, button, bell, lantern, umbrella, scarf, mitten, hat, boot, "
    "backpack, basket, blanket, pillow, map, key, coin, jar, box, clock, mirror, rope, ladder"
)
FOODS = _words(
    "apple, banana, cherry, grape, pear, peach, plum, orange, lemon, melon, strawberry, "
    "blueberry, raspberry, mango, pineapple, kiwi, carrot, pea, corn, potato, tomato, cucumber, "
    "pumpkin, bean, broccoli, lettuce, cabbage, onion, mushroom, cheese, bread, toast, muffin, "
    "cupcake, cookie, pancake, waffle, pie, cake, pudding, jelly, honey, jam, butter, soup, stew, "
    "noodle, rice, dumpling, sandwich, pizza, pretzel, popcorn, cracker, biscuit, donut, "
    "ice cream, lemonade, milk, cocoa, tea, juice, porridge, oatmeal, yogurt, egg, nut, "
    "walnut, peanut, almond, seed, berry, fig, date, coconut, avocado, radish, turnip, beet, "
    "spinach, celery, pepper, zucchini, squash, olive, taco, burrito, omelet, salad, smoothie"
)
COLORS = _words(
    "red, blue, green, yellow, orange, purple, pink, brown, black, white, gray, golden, "
    "silver, violet, teal, crimson, scarlet, navy, turquoise, amber, lavender, maroon, "
    "beige, ivory, copper, bronze, emerald, rosy, lime, cream"
)
TRAIT_ADJECTIVES = _words(
    "little, tiny, small, big, tall, brave, shy, kind, gentle, clever, curious, silly, funny, "
    "happy, cheerful, grumpy, sleepy, lazy, busy, quick, quiet, loud, friendly, helpful, careful, "
    "clumsy, proud, humble, polite, playful, wise, noisy, calm, patient, honest, generous, bold, "
    "cheeky, chubby, skinny, spotted, striped, fluffy, fuzzy, lucky, merry, jolly, eager, "
    "restless, daring, timid, thoughtful, stubborn, grateful, giggly, sneaky, tidy, messy, "
    "young, old, cheerful, lively, bashful, chatty, dreamy, fearless, forgetful, gentle, "
    "hardworking, inventive, mischievous, nimble, plucky, quirky, sensible, spirited, sprightly, "
    "thrifty, trusty, witty, zany, adventurous, bouncy, brainy, cuddly, dainty, feisty, scruffy"
)
ADJECTIVES = _words(
    "little, tiny, small, big, huge, tall, short, round, fluffy, fuzzy, soft, smooth, rough, "
    "shiny, sparkly, bright, dark, old, new, young, brave, shy, kind, gentle, clever, curious, "
    "silly, funny, happy, cheerful, grumpy, sleepy, lazy, busy, quick, slow, quiet, loud, "
    "friendly, helpful, careful, clumsy, proud, humble, polite, playful, wise, wild, tame, "
    "noisy, calm, patient, honest, generous, bold, cheeky, chubby, skinny, spotted, striped, "
    "wobbly, squeaky, bouncy, sturdy, fancy, plain, pretty, lovely, cozy, warm, cold, cool, "
    "chilly, damp, dry, sunny, shady, muddy, dusty, sandy, snowy, icy, stormy, windy, misty, "
    "magical, mysterious, secret, hidden, strange, odd, ordinary, special, famous, hungry, "
    "thirsty, tired, lonely, lucky, merry, jolly, eager, restless, daring, timid, thoughtful, "
    "stubborn, grateful, nervous, excited, dizzy, giggly, sneaky, tidy, messy, sticky, crunchy, "
    "juicy, sweet, sour, salty, spicy, tasty, fresh, ripe, crisp, golden-brown, delicate, "
    "enormous, gigantic, miniature, ancient, modern, cheerless, glowing, twinkling, rusty, "
    "creaky, crooked, fragile, heavy, light, hollow, narrow, wide, deep, shallow, steep, flat"
)
FEELINGS = _words(
    "happy, sad, scared, angry, worried, excited, proud, surprised, calm, lonely, brave, "
    "grateful, curious, nervous, upset, glad, joyful, thrilled, cheerful, hopeful, relieved, "
    "embarrassed, frustrated, confused, jealous, shy, safe, peaceful, delighted, amazed, "
    "gloomy, restless, content, sorry, disappointed, eager, bored, puzzled, stunned, overjoyed"
)
WEATHER = _words(
    "The sun was shining, The sky was gray and cloudy, A cold wind was blowing, "
    "Soft rain was falling, Snow covered the ground, The air was warm and still, "
    "Thunder rumbled far away, A thick fog hid the trees, The morning was bright and clear, "
    "Big white clouds drifted by, The leaves were turning red and gold, A rainbow stretched "
    "across the sky, The stars were twinkling above, Hailstones bounced on the roof, "
    "The puddles were full after the storm, A gentle breeze was blowing, It was the hottest day "
    "of the summer, Frost sparkled on the grass, The first flowers of spring were opening"
)
TIMES = _words(
    "morning, afternoon, evening, night, day, Monday, Tuesday, Wednesday, Thursday, Friday, "
    "Saturday, Sunday, spring day, summer day, autumn day, winter day, holiday, birthday"
)
NATURE = _words(
    "tree, flower, rose, tulip, daisy, sunflower, leaf, branch, log, stump, rock, stone, "
    "puddle, stream, cloud, rainbow, star, moonbeam, sunbeam, snowflake, raindrop, mushroom, "
    "bush, hedge, vine, moss, fern, grass, weed, cactus, pumpkin patch, berry bush, "
    "oak, maple, willow, birch, pine, palm, clover, dandelion, thistle, lily, poppy, violet"
)
SOUNDS = _words(
    "a loud crash, a tiny squeak, a soft buzz, a strange rumble, a happy whistle, "
    "a sad little cry, a gentle knock, a splash, a crackle, a thump, a honk, a chirp, "
    "a rustle in the bushes, a long howl, a clatter of pans, a jingle of bells"
)
BODY = _words("paw, nose, ear, tail, wing, foot, hand, head, knee, whisker, beak, shell, fin")
HOUSEHOLD = _words(
    "spoon, fork, cup, mug, plate, bowl, kettle, teapot, pot, pan, chair, table, bed, sofa, rug, "
    "curtain, window, door, shelf, drawer, candle, lamp, broom, mop, bucket, sponge, towel, soap, "
    "toothbrush, comb, brush, bathtub, sink, stove, oven, fridge, cupboard, closet, stair, "
    "doorbell, mailbox, fence, gate, chimney, fireplace, bookcase, desk, pencil, eraser, notebook, "
    "envelope, letter, postcard, photo, painting, vase, quilt, cushion, hammock, swing, "
    "wheelbarrow, watering can, flowerpot, birdhouse, doghouse, tent, sleeping bag, picnic basket, "
    "thermos, lunchbox, napkin, tablecloth, rolling pin, whisk, ladle, colander, toaster, "
    "alarm clock, calendar, globe, piano, violin, trumpet, guitar, harp, banjo, accordion, cello"
)
VEHICLES = _words(
    "bus, truck, tractor, train, tram, taxi, van, car, canoe, kayak, raft, ferry, ship, yacht, "
    "rowboat, airplane, helicopter, hot air balloon, rocket, motorbike, tricycle, carriage, "
    "cart, sleigh, fire engine, ambulance, bulldozer, digger, crane truck, steam engine"
)
CLOTHES = _words(
    "coat, jacket, dress, skirt, sweater, cardigan, shirt, blouse, vest, pajamas, raincoat, "
    "overalls, apron, cape, cloak, crown, helmet, bonnet, beret, cap, sandal, slipper, sneaker, "
    "sock, glove, belt, bow tie, necklace, bracelet, earring, locket, brooch, tiara, wristwatch"
)
CREATURES_SMALL = _words(
    "tadpole, minnow, gnat, flea, aphid, earwig, centipede, millipede, slug, shrimp, clam, "
    "oyster, mussel, barnacle, sea urchin, plankton, krill, wren, finch, lark, thrush, magpie, "
    "kingfisher, nightingale, canary, budgie, cockatoo, quail, pheasant, partridge, vole, shrew, "
    "gerbil, marmot, ermine, mink, stoat, pika, gopher, lynx, bobcat, jaguar, panther, hyena, "
    "meerkat, mongoose, antelope, gazelle, buffalo, ox, reindeer, caribou, elk, alpaca, ibex"
)
NUMBERS = _words("two, three, four, five, six, seven, eight, nine, ten, eleven, twelve, a dozen")
SCENE_VERBS = _words(
    "glittered, sparkled, glowed, shimmered, swayed, rustled, dripped, buzzed, hummed, "
    "crackled, fluttered, drifted, bobbed, wobbled, creaked, squeaked, rattled, jingled, "
    "twinkled, flickered, waved, nodded, bloomed, wilted, sprouted, trickled, gurgled, splashed"
)
SCENE_PLACES = _words(
    "on the windowsill, on the top shelf, by the front door, under the stairs, near the stove, "
    "on the porch, in the flower bed, beside the well, in the corner, on the garden wall, "
    "next to the mailbox, along the fence, in the old chest, under the big table, on the hook"
)
# Intransitive activities as (base, past, -ing) forms.
ACTIVITIES = tuple(
    tuple(item.split("/"))
    for item in _words(
        "play/played/playing, sing/sang/singing, dance/danced/dancing, run/ran/running, "
        "jump/jumped/jumping, swim/swam/swimming, climb/climbed/climbing, skip/skipped/skipping, "
        "hop/hopped/hopping, paint/painted/painting, draw/drew/drawing, read/read/reading, "
        "bake/baked/baking, garden/gardened/gardening, fish/fished/fishing, "
        "explore/explored/exploring, build/built/building, skate/skated/skating, "
        "ski/skied/skiing, sail/sailed/sailing, hike/hiked/hiking, whistle/whistled/whistling, "
        "giggle/giggled/giggling, nap/napped/napping, splash/splashed/splashing, "
        "spin/spun/spinning, roll/rolled/rolling, dig/dug/digging, fly/flew/flying, "
        "wander/wandered/wandering, race/raced/racing, tumble/tumbled/tumbling, "
        "count/counted/counting, write/wrote/writing, knit/knitted/knitting, sew/sewed/sewing, "
        "hum/hummed/humming, march/marched/marching, twirl/twirled/twirling, "
        "paddle/paddled/paddling, gallop/galloped/galloping, waddle/waddled/waddling, "
        "stroll/strolled/strolling, daydream/daydreamed/daydreaming, whittle/whittled/whittling"
    )
)
# Transitive verbs on a thing as (base, past) forms.
THING_VERBS = tuple(
    tuple(item.split("/"))
    for item in _words(
        "find/found, carry/carried, hold/held, share/shared, fix/fixed, clean/cleaned, "
        "polish/polished, hide/hid, wrap/wrapped, paint/painted, throw/threw, catch/caught, "
        "fetch/fetched, chase/chased, push/pushed, pull/pulled, lift/lifted, drop/dropped, "
        "pick up/picked up, look at/looked at, show/showed, borrow/borrowed, trade/traded, "
        "decorate/decorated, count/counted, bring/brought, keep/kept, hug/hugged, "
        "balance/balanced, stack/stacked, mend/mended, measure/measured, sort/sorted"
    )
)
ADVERBS = _words(
    "slowly, quickly, quietly, loudly, happily, sadly, gently, carefully, bravely, proudly, "
    "softly, eagerly, nervously, calmly, cheerfully, shyly, politely, kindly, suddenly, finally, "
    "gladly, sleepily, patiently, wisely, boldly, swiftly, silently, warmly, brightly, playfully"
)
EXCLAIMS = _words(
    "Oh no, Oh dear, Wow, Hooray, Look, Hello, Yikes, Goodness, Hmm, Oops, Yay, Hey, Well, "
    "Oh my, Listen, Quick, Wait, Gosh, Aha, Ouch"
)
SAID = _words(
    "said, asked, cried, shouted, whispered, called, laughed, sighed, answered, replied, "
    "giggled, mumbled, yelled, explained, exclaimed, added, squeaked, grumbled, sang, wondered"
)
PLACE_PREPS = _words("in, near, behind, beside, at the edge of, far from, next to, above")
MORALS = _words(
    "it is good to share, friends help each other, being kind is the best magic, "
    "asking for help is brave, patience makes hard things easy, telling the truth feels good, "
    "everyone is good at something, small friends can do big things, it is okay to be scared, "
    "trying again is how we learn, a smile can change a whole day, listening is a gift, "
    "working together makes work light, home is where your friends are, "
    "every mistake can be fixed with care, being different is a good thing, "
    "saying sorry makes hearts lighter, the best treasures are the people we love, "
    "it is fun to try new things, a little help goes a long way"
)
ENDINGS = _words(
    "and they lived happily ever after, and that night everyone slept well, "
    "and the sun went down over the hills, and the stars came out one by one, "
    "and it was the best day ever, and they laughed all the way home, "
    "and the whole village cheered, and they never forgot that day"
)


# ------------------------------------------------------------------------------ the story


class _Hero:
    """A character's name, what they are and the pronouns a sentence needs."""

    __slots__ = ("he", "him", "his", "kind", "name")

    def __init__(self, rng: random.Random) -> None:
        roll = rng.random()
        if roll < 0.4:
            self.name, self.he = rng.choice(GIRL_NAMES), "she"
            self.kind = rng.choice(("girl", "little girl", *PEOPLE[2:]))
        elif roll < 0.8:
            self.name, self.he = rng.choice(BOY_NAMES), "he"
            self.kind = rng.choice(("boy", "little boy", *PEOPLE[2:]))
        else:
            self.he = rng.choice(("she", "he"))
            self.name = rng.choice(GIRL_NAMES if self.he == "she" else BOY_NAMES)
            self.kind = rng.choice(ANIMALS)
        self.him = "her" if self.he == "she" else "him"
        self.his = "her" if self.he == "she" else "his"


def _a(word: str) -> str:
    """'an owl', 'a cat': the indefinite article by the first letter."""
    return ("an " if word[0] in "aeiou" else "a ") + word


_MASS_NOUNS = frozenset(
    _words(
        "rice, honey, jam, butter, soup, stew, bread, cheese, toast, milk, cocoa, tea, juice, "
        "porridge, oatmeal, yogurt, pudding, jelly, popcorn, ice cream, lemonade, salad, spinach, "
        "broccoli, lettuce, cabbage, corn, celery, chalk, glue, tape, string, sheep, fish, deer, "
        "moose, bison, plankton, krill, shrimp, squash, smoothie, reindeer, caribou, elk, ox, "
        "buffalo, ibex, yak"
    )
)


def _plural(noun: str) -> str:
    """'berries', 'boxes', 'cats'; mass nouns and same-plural animals stay as they are."""
    if noun in _MASS_NOUNS:
        return noun
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    if noun.endswith(("s", "sh", "ch", "x", "z")) or noun in ("potato", "tomato", "mango"):
        return noun + "es"
    if noun.endswith("f") and noun not in ("scarf", "chef", "roof"):
        return noun[:-1] + "ves"
    return noun + "s"


def _one(rng: random.Random, options: str) -> str:
    """One of the '|'-separated options, for short inline choices inside a sentence."""
    return rng.choice(options.split("|"))


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


def _opening(rng: random.Random, hero: _Hero, place: str) -> list[str]:
    adj = rng.choice(TRAIT_ADJECTIVES)
    shape = rng.randrange(6)
    if shape == 0:
        first = f"Once upon a time, there was {_a(adj)} {hero.kind} named {hero.name}."
    elif shape == 1:
        first = (
            f"{hero.name} was {_a(adj)} {hero.kind} who lived {rng.choice(PLACE_PREPS)} "
            f"the {place}."
        )
    elif shape == 2:
        first = (
            f"In {_a(rng.choice(ADJECTIVES))} {place} far away, there "
            f"lived {_a(adj)} {hero.kind} called {hero.name}."
        )
    elif shape == 3:
        first = f"One {rng.choice(TIMES)}, {_a(adj)} {hero.kind} named {hero.name} woke up early."
    elif shape == 4:
        first = (
            f"Long ago, {rng.choice(PLACE_PREPS)} {_a(rng.choice(ADJECTIVES))} "
            f"{place}, lived {_a(hero.kind)} called {hero.name}."
        )
    else:
        first = f"Have you ever met {_a(adj)} {hero.kind}? This is {hero.name}."
    lines = [first]
    activity = rng.choice(ACTIVITIES)
    detail = rng.randrange(5)
    if detail == 0:
        lines.append(
            f"{_cap(hero.he)} loved {activity[2]} and eating {_plural(rng.choice(FOODS))}."
        )
    elif detail == 1:
        lines.append(
            f"{hero.name} had {_a(rng.choice(COLORS))} {rng.choice(TOYS)} "
            f"that {hero.he} took everywhere."
        )
    elif detail == 2:
        lines.append(
            f"Every day, {hero.he} would {activity[0]} {rng.choice(ADVERBS)} "
            f"by the {rng.choice(NATURE)}."
        )
    elif detail == 3:
        lines.append(
            f"{_cap(hero.his)} favorite thing in the world was {_a(rng.choice(ADJECTIVES))} "
            f"{rng.choice(TOYS)}."
        )
    else:
        lines.append(
            f"Everyone said {hero.name} was the most "
            f"{_one(rng, 'kind|helpful|cheerful|curious|careful|playful|patient|polite')} "
            f"{hero.kind} in the {place}."
        )
    if rng.random() < 0.6:
        lines.append(f"{rng.choice(WEATHER)}.")
    return lines


def _scene(rng: random.Random, hero: _Hero, place: str) -> str:
    """One sentence of setting that names things around the hero."""
    shape = rng.randrange(6)
    if shape == 0:
        return (
            f"In the {place} there were {rng.choice(NUMBERS)} {_plural(rng.choice(HOUSEHOLD))}, "
            f"{_a(rng.choice(ADJECTIVES))} {rng.choice(HOUSEHOLD)} and {_a(rng.choice(VEHICLES))}."
        )
    if shape == 1:
        return (
            f"{_cap(_a(rng.choice(COLORS)))} {rng.choice(HOUSEHOLD)} {rng.choice(SCENE_VERBS)} "
            f"{rng.choice(SCENE_PLACES)}."
        )
    if shape == 2:
        return (
            f"{_cap(hero.he)} wore {hero.his} {rng.choice(COLORS)} {rng.choice(CLOTHES)} "
            f"and {hero.his} {rng.choice(ADJECTIVES)} {rng.choice(CLOTHES)}."
        )
    if shape == 3:
        return (
            f"Outside, {_a(rng.choice(CREATURES_SMALL))} {rng.choice(SCENE_VERBS)} "
            f"near the {rng.choice(NATURE)}, and {_a(rng.choice(VEHICLES))} "
            "went by."
        )
    if shape == 4:
        return (
            f"{hero.name} liked to watch the {_plural(rng.choice(CREATURES_SMALL))} "
            f"and count the {_plural(rng.choice(VEHICLES))} that passed."
        )
    return (
        f"Near the {rng.choice(HOUSEHOLD)}, {_a(rng.choice(CREATURES_SMALL))} "
        f"was {rng.choice(ACTIVITIES)[2]} {rng.choice(ADVERBS)}."
    )


def _friend_intro(rng: random.Random, hero: _Hero, friend: _Hero) -> str:
    shape = rng.randrange(4)
    if shape == 0:
        return (
            f"{hero.name}'s best friend was {_a(rng.choice(TRAIT_ADJECTIVES))} "
            f"{friend.kind} named {friend.name}."
        )
    if shape == 1:
        return (
            f"On the way, {hero.he} met {_a(friend.kind)} called {friend.name}, "
            f"who was {rng.choice(TRAIT_ADJECTIVES)} and {rng.choice(TRAIT_ADJECTIVES)}."
        )
    if shape == 2:
        return (
            f"{friend.name} the {friend.kind} lived next door and liked "
            f"to {rng.choice(ACTIVITIES)[0]}."
        )
    return (
        f"Soon {friend.name}, {_a(rng.choice(TRAIT_ADJECTIVES))} {friend.kind}, "
        f"came along to {rng.choice(ACTIVITIES)[0]} with {hero.him}."
    )


def _say(rng: random.Random, who: str, words: str) -> str:
    verb = rng.choice(SAID)
    shape = rng.randrange(3)
    if shape != 1 and words.endswith("."):
        # A quote followed by "said X" ends in a comma, not a full stop.
        words = words[:-1] + ","
    if shape == 0:
        return f'"{words}" {verb} {who}.'
    if shape == 1:
        return f'{_cap(who)} {verb}, "{words}"'
    return f'"{words}" {who} {verb} {rng.choice(ADVERBS)}.'


def _lost_thing(rng: random.Random, hero: _Hero, friend: _Hero, place: str) -> list[str]:
    toy = rng.choice(TOYS)
    color = rng.choice(COLORS)
    spot = rng.choice(NATURE)
    return [
        f"One day, {hero.name} could not find {hero.his} {color} {toy}.",
        _say(rng, hero.name, f"{rng.choice(EXCLAIMS)}! Where is my {toy}?"),
        (
            f"{_cap(hero.he)} looked under the {rng.choice(NATURE)} and "
            f"behind the {rng.choice(TOYS)}, but it was not there."
        ),
        f"{hero.name} felt {rng.choice(('sad', 'worried', 'upset', 'gloomy'))}.",
        _say(rng, friend.name, "Don't worry, I will help you look."),
        f"They searched the whole {place} {rng.choice(ADVERBS)}.",
        f"At last, {friend.name} saw something {color} under {_a(spot)}.",
        _say(rng, friend.name, f"{rng.choice(EXCLAIMS)}! Here it is!"),
        f"{hero.name} hugged {hero.his} {toy} and thanked {friend.name}.",
    ]


def _broken_thing(rng: random.Random, hero: _Hero, friend: _Hero, place: str) -> list[str]:
    toy = rng.choice(TOYS)
    fixer = rng.choice(PEOPLE[2:])
    tool = rng.choice(("glue", "tape", "string", "a needle and thread", "a hammer", "nails"))
    return [
        (
            f"One {rng.choice(TIMES)}, {hero.name} was {rng.choice(ACTIVITIES)[2]} "
            f"with {hero.his} {toy} when it broke."
        ),
        f"There was {rng.choice(SOUNDS)}, and the {toy} fell into pieces.",
        _say(rng, hero.name, f"{rng.choice(EXCLAIMS)}. My {toy} is broken!"),
        f"{_cap(hero.he)} started to cry.",
        f"{friend.name} sat down next to {hero.him}.",
        _say(rng, friend.name, f"Let us ask the {fixer}. The {fixer} can fix anything."),
        f"So they walked to the {rng.choice(PLACES)} where the {fixer} lived.",
        f"The {fixer} smiled and used {tool} to mend the {toy}.",
        f"Soon the {toy} looked as good as new, maybe even better.",
    ]


def _weather_spoils(rng: random.Random, hero: _Hero, friend: _Hero, place: str) -> list[str]:
    activity = rng.choice(ACTIVITIES)
    other = rng.choice(ACTIVITIES)
    food = rng.choice(FOODS)
    return [
        f"{hero.name} and {friend.name} wanted to {activity[0]} at the {rng.choice(PLACES)}.",
        (f"But then dark clouds came, and it began to {_one(rng, 'rain|pour|snow|hail')}."),
        _say(rng, hero.name, f"Now we cannot {activity[0]}. This is the worst day!"),
        f"{friend.name} thought for a moment.",
        _say(
            rng, friend.name, f"We can {other[0]} inside instead, and eat some {_plural(food)} too."
        ),
        (
            f"So they stayed in the {_one(rng, 'kitchen|attic|cottage|den|cabin|barn')} "
            f"and {other[1]} all {rng.choice(TIMES)}."
        ),
        (
            f"It was so much fun that {hero.name} forgot all about the "
            f"{rng.choice(('rain', 'storm', 'clouds', 'wind'))}."
        ),
    ]


def _scared(rng: random.Random, hero: _Hero, friend: _Hero, place: str) -> list[str]:
    thing = rng.choice(
        (
            "the dark",
            "the big dog",
            "the deep water",
            "the tall slide",
            "thunder",
            "the old bridge",
            "the noisy train",
            "the empty cellar",
            "the high branch",
        )
    )
    light = rng.choice(TOYS)
    return [
        f"{hero.name} was afraid of {thing}.",
        f"Every time {hero.he} saw it, {hero.his} {rng.choice(BODY)} began to shake.",
        (
            f"One {rng.choice(TIMES)}, {hero.he} heard {rng.choice(SOUNDS)} "
            f"and hid behind {_a(rng.choice(NATURE))}."
        ),
        _say(rng, friend.name, f"Why are you hiding, {hero.name}?"),
        _say(rng, hero.name, f"I am scared of {thing}."),
        _say(rng, friend.name, "I was scared too once. Let us go together, step by step."),
        f"{friend.name} brought {_a(light)}, and they went together {rng.choice(ADVERBS)}.",
        (
            f"It was not so bad after all. {hero.name} felt "
            f"{_one(rng, 'brave|proud|safe|calm|relieved')}."
        ),
    ]


def _sharing(rng: random.Random, hero: _Hero, friend: _Hero, place: str) -> list[str]:
    food = rng.choice(FOODS)
    adj = rng.choice(("sweet", "juicy", "warm", "crunchy", "fresh", "tasty", "ripe", "big"))
    return [
        f"One day, {hero.name} found {_a(adj)} {food} at the {rng.choice(PLACES)}.",
        f"{_cap(hero.he)} wanted to eat it all by {hero.him}self.",
        f"Then {friend.name} came by, looking {rng.choice(('hungry', 'tired', 'sad', 'lonely'))}.",
        _say(rng, friend.name, f"That {food} looks so {adj}. Can I have a bite?"),
        _say(rng, hero.name, "No, it is mine!"),
        (
            f"{friend.name} walked away {rng.choice(('sadly', 'slowly', 'quietly'))}, "
            f"and {hero.name} felt a strange pain in {hero.his} tummy."
        ),
        f"{_cap(hero.he)} ran after {friend.name} and broke the {food} in two.",
        _say(rng, hero.name, "I am sorry. Here, half is for you."),
        f"They ate together under the {rng.choice(NATURE)}, and it tasted even better.",
    ]


def _helping(rng: random.Random, hero: _Hero, friend: _Hero, place: str) -> list[str]:
    animal = rng.choice(ANIMALS)
    trap = rng.choice(
        (
            "in a hole",
            "up a tree",
            "in the mud",
            "under a log",
            "in a thorny bush",
            "on a rock in the river",
            "behind a fence",
            "in a spider web",
        )
    )
    tool = rng.choice(TOYS)
    return [
        (
            f"While they were {rng.choice(ACTIVITIES)[2]}, {hero.name} "
            f"and {friend.name} heard {rng.choice(SOUNDS)}."
        ),
        f"It was {_a(rng.choice(TRAIT_ADJECTIVES))} {animal} stuck {trap}.",
        _say(rng, f"the {animal}", "Help! I cannot get out!"),
        _say(rng, hero.name, f"{rng.choice(EXCLAIMS)}, we must help!"),
        f"{hero.name} tried to reach it, but {hero.his} arms were too short.",
        f"Then {friend.name} had an idea and used {_a(tool)} to reach the {animal}.",
        f"Together they pulled {rng.choice(ADVERBS)}, and the {animal} was free.",
        _say(
            rng,
            f"the {animal}",
            f"Thank you! You are very {rng.choice(('kind', 'brave', 'clever', 'helpful'))}.",
        ),
    ]


def _contest(rng: random.Random, hero: _Hero, friend: _Hero, place: str) -> list[str]:
    activity = rng.choice(ACTIVITIES)
    prize = rng.choice(TOYS + FOODS)
    return [
        (
            f"The {place} was having a big {activity[2]} contest, and "
            f"the prize was {_a(rng.choice(COLORS))} {prize}."
        ),
        f"{hero.name} wanted to win more than anything.",
        (
            f"{_cap(hero.he)} practiced every {rng.choice(TIMES)} until "
            f"{hero.his} {rng.choice(BODY)} hurt."
        ),
        (
            f"On the day of the contest, {hero.name} felt "
            f"{_one(rng, 'nervous|excited|eager|worried')}."
        ),
        _say(rng, friend.name, f"Just do your best, {hero.name}. That is what matters."),
        f"{hero.name} took a deep breath and began to {activity[0]} {rng.choice(ADVERBS)}.",
        rng.choice(
            (
                f"{_cap(hero.he)} did not win, but everyone clapped {rng.choice(ADVERBS)}.",
                f"To {hero.his} surprise, {hero.he} won the {prize}!",
                (
                    f"{_cap(hero.he)} came in second, right behind {_a(rng.choice(ANIMALS))} "
                    f"named {rng.choice(BOY_NAMES + GIRL_NAMES)}."
                ),
            )
        ),
        (
            f"{hero.name} {rng.choice(THING_VERBS)[1]} the {prize} and "
            f"shared the fun with {friend.name}."
        ),
    ]


def _journey(rng: random.Random, hero: _Hero, friend: _Hero, place: str) -> list[str]:
    goal = rng.choice(PLACES)
    path = rng.choice(
        (
            "a winding path",
            "a bumpy road",
            "a long bridge",
            "a dark tunnel",
            "a field of tall grass",
            "a rocky hill",
            "a shallow stream",
        )
    )
    gift = rng.choice(FOODS)
    relative = rng.choice(("grandma", "grandpa", "aunt", "uncle", "cousin", "godmother"))
    return [
        f"{hero.name} wanted to visit {hero.his} {relative}, who lived at the {goal}.",
        (
            f"{_cap(hero.he)} packed {_a(gift)}, {_a(rng.choice(TOYS))} "
            f"and {_a(rng.choice(TOYS))} in {hero.his} bag."
        ),
        f"{hero.name} and {friend.name} walked along {path}.",
        "Soon they came to a place where the path split in two.",
        _say(rng, hero.name, "Which way should we go?"),
        (
            f"{friend.name} looked at the {_one(rng, 'sun|moss on the trees|old map|stars|river')} "
            "and pointed left."
        ),
        f"They walked and walked, past {_a(rng.choice(NATURE))} and over {_a(rng.choice(NATURE))}.",
        f"At last they saw the {goal}, and the door opened {rng.choice(ADVERBS)}.",
        _say(
            rng,
            f"{hero.his} {relative}",
            f"You made it! Come in and have some {rng.choice(FOODS)}.",
        ),
    ]


def _new_friend(rng: random.Random, hero: _Hero, friend: _Hero, place: str) -> list[str]:
    return [
        f"A new {friend.kind} named {friend.name} came to the {place}.",
        (
            f"{friend.name} stood alone by the {rng.choice(NATURE)} and "
            f"looked {rng.choice(('shy', 'lonely', 'sad', 'nervous'))}."
        ),
        f"{hero.name} wanted to say hello, but {hero.he} felt shy too.",
        f"{_cap(hero.he)} took a deep breath and walked over {rng.choice(ADVERBS)}.",
        _say(
            rng,
            hero.name,
            f"Hello! My name is {hero.name}. Do you want to {rng.choice(ACTIVITIES)[0]} with me?",
        ),
        f"{friend.name} smiled a big smile.",
        _say(rng, friend.name, f"Yes, please! I love to {rng.choice(ACTIVITIES)[0]}."),
        (
            f"They {rng.choice(ACTIVITIES)[1]} and {rng.choice(ACTIVITIES)[1]} "
            "until the sun went down."
        ),
    ]


def _wish(rng: random.Random, hero: _Hero, friend: _Hero, place: str) -> list[str]:
    wanted = rng.choice(TOYS)
    job = rng.choice(PEOPLE[2:])
    coins = rng.choice(("three", "five", "seven", "ten", "twelve", "twenty"))
    chore = rng.choice(THING_VERBS)
    return [
        f"In the window of the toy shop, {hero.name} saw {_a(rng.choice(ADJECTIVES))} {wanted}.",
        f"It cost {coins} coins, but {hero.name} had none.",
        _say(rng, hero.name, f"How can I get {coins} coins?"),
        f"{_cap(hero.he)} decided to help the {job} every {rng.choice(TIMES)}.",
        (
            f"{_cap(hero.he)} had to {chore[0]} the {_plural(rng.choice(TOYS))} "
            f"and {rng.choice(THING_VERBS)[0]} the {_plural(rng.choice(FOODS))}."
        ),
        (
            f"It was hard work, and some days {hero.he} felt "
            f"{_one(rng, 'tired|bored|grumpy|sleepy')}."
        ),
        f"But {hero.name} did not give up, and soon {hero.he} had {coins} shiny coins.",
        (
            f"When {hero.he} finally bought the {wanted}, {hero.he} felt "
            f"{rng.choice(('proud', 'happy', 'thrilled', 'overjoyed'))}."
        ),
    ]


_PROBLEMS: tuple[Callable[[random.Random, _Hero, _Hero, str], list[str]], ...] = (
    _lost_thing,
    _broken_thing,
    _weather_spoils,
    _scared,
    _sharing,
    _helping,
    _contest,
    _journey,
    _new_friend,
    _wish,
)


def _closing(rng: random.Random, hero: _Hero, friend: _Hero) -> list[str]:
    lines: list[str] = []
    if rng.random() < 0.5:
        lines.append(
            f"{hero.name} felt {rng.choice(FEELINGS)} and {_one(rng, 'warm|happy|light|glad')} "
            "inside."
        )
    shape = rng.randrange(5)
    moral = rng.choice(MORALS)
    if shape == 0:
        lines.append(f"That day, {hero.name} learned that {moral}.")
    elif shape == 1:
        lines.append(f"From that day on, {hero.name} and {friend.name} were the best of friends.")
    elif shape == 2:
        lines.append(_say(rng, hero.name, f"Thank you, {friend.name}. Now I know that {moral}."))
    elif shape == 3:
        lines.append(f"{hero.name} and {friend.name} went home, {rng.choice(ENDINGS)}.")
    else:
        lines.append(f"And so {hero.name} always remembered that {moral}.")
    if rng.random() < 0.3:
        lines.append("The end.")
    return lines


def generate_story(seed: int, index: int) -> str:
    """The story number `index` of the corpus drawn with `seed`; "
    "the same pair gives the same text."""
    # A string seed is hashed with SHA-512 by random.Random, so nearby (seed, index) pairs differ.
    rng = random.Random(f"gptlab-story:{seed}:{index}")
    hero = _Hero(rng)
    friend = _Hero(rng)
    while friend.name == hero.name:
        friend = _Hero(rng)
    place = rng.choice(PLACES)
    lines = _opening(rng, hero, place)
    if rng.random() < 0.6:
        lines.append(_scene(rng, hero, place))
    problem = rng.choice(_PROBLEMS)
    if problem is not _new_friend and rng.random() < 0.7:
        lines.append(_friend_intro(rng, hero, friend))
    lines += problem(rng, hero, friend, place)
    lines += _closing(rng, hero, friend)
    # A paragraph break before the problem and before the ending, as picture books often have.
    cut = rng.randrange(2, 4)
    ending = 2 if lines[-1] == "The end." else 1
    paragraphs = (lines[:cut], lines[cut:-ending], lines[-ending:])
    return "\n\n".join(" ".join(paragraph) for paragraph in paragraphs)


def generate_stories(num_stories: int, seed: int = 0) -> Iterator[str]:
    """Stories 0..num_stories-1 for `seed`, generated lazily one at a time."""
    for index in range(num_stories):
        yield generate_story(seed, index)
