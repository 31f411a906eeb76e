"""The problem arcs of the built-in corpus: the middle of a story, a small trouble and its end.

Ten arcs (a lost toy, a broken toy, spoilt weather, a fear, sharing, an animal in need, a contest,
a journey, a new friend, a wish) each take the story's random.Random, the hero, the friend and the
place, and return sentences. corpus.py draws one arc per story from PROBLEMS by its position, so
adding or moving an arc in that tuple changes the story every seed gives.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from gptlab.data.corpus_grammar import Hero, article, capitalized, one_of, plural, say
from gptlab.data.corpus_words import (
    ACTIVITIES,
    ADJECTIVES,
    ADVERBS,
    ANIMALS,
    BODY,
    BOY_NAMES,
    COLORS,
    EXCLAIMS,
    FOODS,
    GIRL_NAMES,
    NATURE,
    PEOPLE,
    PLACES,
    SOUNDS,
    THING_VERBS,
    TIMES,
    TOYS,
    TRAIT_ADJECTIVES,
)


def _lost_thing(rng: random.Random, hero: Hero, friend: Hero, place: str) -> list[str]:
    toy = rng.choice(TOYS)
    color = rng.choice(COLORS)
    spot = rng.choice(NATURE)
    return [
        f"One day, {hero.name} could not find {hero.his} {color} {toy}.",
        say(rng, hero.name, f"{rng.choice(EXCLAIMS)}! Where is my {toy}?"),
        (
            f"{capitalized(hero.he)} looked under the {rng.choice(NATURE)} and "
            f"behind the {rng.choice(TOYS)}, but it was not there."
        ),
        f"{hero.name} felt {rng.choice(('sad', 'worried', 'upset', 'gloomy'))}.",
        say(rng, friend.name, "Don't worry, I will help you look."),
        f"They searched the whole {place} {rng.choice(ADVERBS)}.",
        f"At last, {friend.name} saw something {color} under {article(spot)}.",
        say(rng, friend.name, f"{rng.choice(EXCLAIMS)}! Here it is!"),
        f"{hero.name} hugged {hero.his} {toy} and thanked {friend.name}.",
    ]


def _broken_thing(rng: random.Random, hero: Hero, friend: Hero, place: str) -> list[str]:
    toy = rng.choice(TOYS)
    fixer = rng.choice(PEOPLE[2:])
    tool = rng.choice(("glue", "tape", "string", "a needle and thread", "a hammer", "nails"))
    return [
        (
            f"One {rng.choice(TIMES)}, {hero.name} was {rng.choice(ACTIVITIES)[2]} "
            f"with {hero.his} {toy} when it broke."
        ),
        f"There was {rng.choice(SOUNDS)}, and the {toy} fell into pieces.",
        say(rng, hero.name, f"{rng.choice(EXCLAIMS)}. My {toy} is broken!"),
        f"{capitalized(hero.he)} started to cry.",
        f"{friend.name} sat down next to {hero.him}.",
        say(rng, friend.name, f"Let us ask the {fixer}. The {fixer} can fix anything."),
        f"So they walked to the {rng.choice(PLACES)} where the {fixer} lived.",
        f"The {fixer} smiled and used {tool} to mend the {toy}.",
        f"Soon the {toy} looked as good as new, maybe even better.",
    ]


def _weather_spoils(rng: random.Random, hero: Hero, friend: Hero, place: str) -> list[str]:
    activity = rng.choice(ACTIVITIES)
    other = rng.choice(ACTIVITIES)
    food = rng.choice(FOODS)
    return [
        f"{hero.name} and {friend.name} wanted to {activity[0]} at the {rng.choice(PLACES)}.",
        (f"But then dark clouds came, and it began to {one_of(rng, 'rain|pour|snow|hail')}."),
        say(rng, hero.name, f"Now we cannot {activity[0]}. This is the worst day!"),
        f"{friend.name} thought for a moment.",
        say(
            rng, friend.name, f"We can {other[0]} inside instead, and eat some {plural(food)} too."
        ),
        (
            f"So they stayed in the {one_of(rng, 'kitchen|attic|cottage|den|cabin|barn')} "
            f"and {other[1]} all {rng.choice(TIMES)}."
        ),
        (
            f"It was so much fun that {hero.name} forgot all about the "
            f"{rng.choice(('rain', 'storm', 'clouds', 'wind'))}."
        ),
    ]


def _scared(rng: random.Random, hero: Hero, friend: Hero, place: str) -> list[str]:
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
            f"and hid behind {article(rng.choice(NATURE))}."
        ),
        say(rng, friend.name, f"Why are you hiding, {hero.name}?"),
        say(rng, hero.name, f"I am scared of {thing}."),
        say(rng, friend.name, "I was scared too once. Let us go together, step by step."),
        f"{friend.name} brought {article(light)}, and they went together {rng.choice(ADVERBS)}.",
        (
            f"It was not so bad after all. {hero.name} felt "
            f"{one_of(rng, 'brave|proud|safe|calm|relieved')}."
        ),
    ]


def _sharing(rng: random.Random, hero: Hero, friend: Hero, place: str) -> list[str]:
    food = rng.choice(FOODS)
    adj = rng.choice(("sweet", "juicy", "warm", "crunchy", "fresh", "tasty", "ripe", "big"))
    return [
        f"One day, {hero.name} found {article(adj)} {food} at the {rng.choice(PLACES)}.",
        f"{capitalized(hero.he)} wanted to eat it all by {hero.him}self.",
        f"Then {friend.name} came by, looking {rng.choice(('hungry', 'tired', 'sad', 'lonely'))}.",
        say(rng, friend.name, f"That {food} looks so {adj}. Can I have a bite?"),
        say(rng, hero.name, "No, it is mine!"),
        (
            f"{friend.name} walked away {rng.choice(('sadly', 'slowly', 'quietly'))}, "
            f"and {hero.name} felt a strange pain in {hero.his} tummy."
        ),
        f"{capitalized(hero.he)} ran after {friend.name} and broke the {food} in two.",
        say(rng, hero.name, "I am sorry. Here, half is for you."),
        f"They ate together under the {rng.choice(NATURE)}, and it tasted even better.",
    ]


def _helping(rng: random.Random, hero: Hero, friend: Hero, place: str) -> list[str]:
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
        f"It was {article(rng.choice(TRAIT_ADJECTIVES))} {animal} stuck {trap}.",
        say(rng, f"the {animal}", "Help! I cannot get out!"),
        say(rng, hero.name, f"{rng.choice(EXCLAIMS)}, we must help!"),
        f"{hero.name} tried to reach it, but {hero.his} arms were too short.",
        f"Then {friend.name} had an idea and used {article(tool)} to reach the {animal}.",
        f"Together they pulled {rng.choice(ADVERBS)}, and the {animal} was free.",
        say(
            rng,
            f"the {animal}",
            f"Thank you! You are very {rng.choice(('kind', 'brave', 'clever', 'helpful'))}.",
        ),
    ]


def _contest(rng: random.Random, hero: Hero, friend: Hero, place: str) -> list[str]:
    activity = rng.choice(ACTIVITIES)
    prize = rng.choice(TOYS + FOODS)
    return [
        (
            f"The {place} was having a big {activity[2]} contest, and "
            f"the prize was {article(rng.choice(COLORS))} {prize}."
        ),
        f"{hero.name} wanted to win more than anything.",
        (
            f"{capitalized(hero.he)} practiced every {rng.choice(TIMES)} until "
            f"{hero.his} {rng.choice(BODY)} hurt."
        ),
        (
            f"On the day of the contest, {hero.name} felt "
            f"{one_of(rng, 'nervous|excited|eager|worried')}."
        ),
        say(rng, friend.name, f"Just do your best, {hero.name}. That is what matters."),
        f"{hero.name} took a deep breath and began to {activity[0]} {rng.choice(ADVERBS)}.",
        rng.choice(
            (
                f"{capitalized(hero.he)} did not win, but everyone clapped {rng.choice(ADVERBS)}.",
                f"To {hero.his} surprise, {hero.he} won the {prize}!",
                (
                    f"{capitalized(hero.he)} came in second, right behind "
                    f"{article(rng.choice(ANIMALS))} named {rng.choice(BOY_NAMES + GIRL_NAMES)}."
                ),
            )
        ),
        (
            f"{hero.name} {rng.choice(THING_VERBS)[1]} the {prize} and "
            f"shared the fun with {friend.name}."
        ),
    ]


def _journey(rng: random.Random, hero: Hero, friend: Hero, place: str) -> list[str]:
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
            f"{capitalized(hero.he)} packed {article(gift)}, {article(rng.choice(TOYS))} "
            f"and {article(rng.choice(TOYS))} in {hero.his} bag."
        ),
        f"{hero.name} and {friend.name} walked along {path}.",
        "Soon they came to a place where the path split in two.",
        say(rng, hero.name, "Which way should we go?"),
        (
            f"{friend.name} looked at the "
            f"{one_of(rng, 'sun|moss on the trees|old map|stars|river')} and pointed left."
        ),
        (
            f"They walked and walked, past {article(rng.choice(NATURE))} "
            f"and over {article(rng.choice(NATURE))}."
        ),
        f"At last they saw the {goal}, and the door opened {rng.choice(ADVERBS)}.",
        say(
            rng,
            f"{hero.his} {relative}",
            f"You made it! Come in and have some {rng.choice(FOODS)}.",
        ),
    ]


def new_friend(rng: random.Random, hero: Hero, friend: Hero, place: str) -> list[str]:
    return [
        f"A new {friend.kind} named {friend.name} came to the {place}.",
        (
            f"{friend.name} stood alone by the {rng.choice(NATURE)} and "
            f"looked {rng.choice(('shy', 'lonely', 'sad', 'nervous'))}."
        ),
        f"{hero.name} wanted to say hello, but {hero.he} felt shy too.",
        f"{capitalized(hero.he)} took a deep breath and walked over {rng.choice(ADVERBS)}.",
        say(
            rng,
            hero.name,
            f"Hello! My name is {hero.name}. Do you want to {rng.choice(ACTIVITIES)[0]} with me?",
        ),
        f"{friend.name} smiled a big smile.",
        say(rng, friend.name, f"Yes, please! I love to {rng.choice(ACTIVITIES)[0]}."),
        (
            f"They {rng.choice(ACTIVITIES)[1]} and {rng.choice(ACTIVITIES)[1]} "
            "until the sun went down."
        ),
    ]


def _wish(rng: random.Random, hero: Hero, friend: Hero, place: str) -> list[str]:
    wanted = rng.choice(TOYS)
    job = rng.choice(PEOPLE[2:])
    coins = rng.choice(("three", "five", "seven", "ten", "twelve", "twenty"))
    chore = rng.choice(THING_VERBS)
    return [
        (
            f"In the window of the toy shop, {hero.name} saw "
            f"{article(rng.choice(ADJECTIVES))} {wanted}."
        ),
        f"It cost {coins} coins, but {hero.name} had none.",
        say(rng, hero.name, f"How can I get {coins} coins?"),
        f"{capitalized(hero.he)} decided to help the {job} every {rng.choice(TIMES)}.",
        (
            f"{capitalized(hero.he)} had to {chore[0]} the {plural(rng.choice(TOYS))} "
            f"and {rng.choice(THING_VERBS)[0]} the {plural(rng.choice(FOODS))}."
        ),
        (
            f"It was hard work, and some days {hero.he} felt "
            f"{one_of(rng, 'tired|bored|grumpy|sleepy')}."
        ),
        f"But {hero.name} did not give up, and soon {hero.he} had {coins} shiny coins.",
        (
            f"When {hero.he} finally bought the {wanted}, {hero.he} felt "
            f"{rng.choice(('proud', 'happy', 'thrilled', 'overjoyed'))}."
        ),
    ]


PROBLEMS: tuple[Callable[[random.Random, Hero, Hero, str], list[str]], ...] = (
    _lost_thing,
    _broken_thing,
    _weather_spoils,
    _scared,
    _sharing,
    _helping,
    _contest,
    _journey,
    new_friend,
    _wish,
)
