"""The word tables of the built-in corpus: names, animals, places, things, verbs and phrases.

Plain tuples of words, written by this project, that the story frame (corpus.py), the problem
arcs (corpus_problems.py) and the sentence helpers (corpus_grammar.py) draw from. A story picks a
word by its index in a table, so editing a table changes the text every seed gives.
"""

from __future__ import annotations


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


# Nouns that plural() leaves as they are: mass nouns, and animals whose plural is the singular.
MASS_NOUNS = frozenset(
    _words(
        "rice, honey, jam, butter, soup, stew, bread, cheese, toast, milk, cocoa, tea, juice, "
        "porridge, oatmeal, yogurt, pudding, jelly, popcorn, ice cream, lemonade, salad, spinach, "
        "broccoli, lettuce, cabbage, corn, celery, chalk, glue, tape, string, sheep, fish, deer, "
        "moose, bison, plankton, krill, shrimp, squash, smoothie, reindeer, caribou, elk, ox, "
        "buffalo, ibex, yak"
    )
)
