"""The built-in corpus: short children's stories generated from word lists and sentence templates.

Each story is built from a random.Random seeded by (seed, index), so any story can be regenerated
alone and the whole corpus needs no download. A story follows one arc (a hero, a place, a small
problem, dialogue, a resolution, an ending) with many interchangeable sentence shapes, which gives a
small model regular patterns to learn and a vocabulary of a few thousand words.

This module holds the frame of a story (opening, scene, friend, closing) and generate_story; the
word tables are in corpus_words.py, the hero and the English helpers in corpus_grammar.py and the
ten problem arcs in corpus_problems.py.

Trade-off: the text is grammatical but shallow; it is for learning the mechanics of training (loss
curves, sampling, overfitting) in minutes on a CPU, not for measuring language understanding.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from gptlab.data.corpus_grammar import Hero, article, capitalized, one_of, plural, say
from gptlab.data.corpus_problems import PROBLEMS, new_friend
from gptlab.data.corpus_words import (
    ACTIVITIES,
    ADJECTIVES,
    ADVERBS,
    CLOTHES,
    COLORS,
    CREATURES_SMALL,
    ENDINGS,
    FEELINGS,
    FOODS,
    HOUSEHOLD,
    MORALS,
    NATURE,
    NUMBERS,
    PLACE_PREPS,
    PLACES,
    SCENE_PLACES,
    SCENE_VERBS,
    TIMES,
    TOYS,
    TRAIT_ADJECTIVES,
    VEHICLES,
    WEATHER,
)

BUILTIN_SOURCE = "builtin"
DEFAULT_NUM_STORIES = 20_000


def _opening(rng: random.Random, hero: Hero, place: str) -> list[str]:
    adj = rng.choice(TRAIT_ADJECTIVES)
    shape = rng.randrange(6)
    if shape == 0:
        first = f"Once upon a time, there was {article(adj)} {hero.kind} named {hero.name}."
    elif shape == 1:
        first = (
            f"{hero.name} was {article(adj)} {hero.kind} who lived {rng.choice(PLACE_PREPS)} "
            f"the {place}."
        )
    elif shape == 2:
        first = (
            f"In {article(rng.choice(ADJECTIVES))} {place} far away, there "
            f"lived {article(adj)} {hero.kind} called {hero.name}."
        )
    elif shape == 3:
        first = (
            f"One {rng.choice(TIMES)}, {article(adj)} {hero.kind} named {hero.name} woke up early."
        )
    elif shape == 4:
        first = (
            f"Long ago, {rng.choice(PLACE_PREPS)} {article(rng.choice(ADJECTIVES))} "
            f"{place}, lived {article(hero.kind)} called {hero.name}."
        )
    else:
        first = f"Have you ever met {article(adj)} {hero.kind}? This is {hero.name}."
    lines = [first]
    activity = rng.choice(ACTIVITIES)
    detail = rng.randrange(5)
    if detail == 0:
        lines.append(
            f"{capitalized(hero.he)} loved {activity[2]} and eating {plural(rng.choice(FOODS))}."
        )
    elif detail == 1:
        lines.append(
            f"{hero.name} had {article(rng.choice(COLORS))} {rng.choice(TOYS)} "
            f"that {hero.he} took everywhere."
        )
    elif detail == 2:
        lines.append(
            f"Every day, {hero.he} would {activity[0]} {rng.choice(ADVERBS)} "
            f"by the {rng.choice(NATURE)}."
        )
    elif detail == 3:
        lines.append(
            f"{capitalized(hero.his)} favorite thing in the world was "
            f"{article(rng.choice(ADJECTIVES))} {rng.choice(TOYS)}."
        )
    else:
        lines.append(
            f"Everyone said {hero.name} was the most "
            f"{one_of(rng, 'kind|helpful|cheerful|curious|careful|playful|patient|polite')} "
            f"{hero.kind} in the {place}."
        )
    if rng.random() < 0.6:
        lines.append(f"{rng.choice(WEATHER)}.")
    return lines


def _scene(rng: random.Random, hero: Hero, place: str) -> str:
    """One sentence of setting that names things around the hero."""
    shape = rng.randrange(6)
    if shape == 0:
        return (
            f"In the {place} there were {rng.choice(NUMBERS)} {plural(rng.choice(HOUSEHOLD))}, "
            f"{article(rng.choice(ADJECTIVES))} {rng.choice(HOUSEHOLD)} "
            f"and {article(rng.choice(VEHICLES))}."
        )
    if shape == 1:
        return (
            f"{capitalized(article(rng.choice(COLORS)))} {rng.choice(HOUSEHOLD)} "
            f"{rng.choice(SCENE_VERBS)} {rng.choice(SCENE_PLACES)}."
        )
    if shape == 2:
        return (
            f"{capitalized(hero.he)} wore {hero.his} {rng.choice(COLORS)} {rng.choice(CLOTHES)} "
            f"and {hero.his} {rng.choice(ADJECTIVES)} {rng.choice(CLOTHES)}."
        )
    if shape == 3:
        return (
            f"Outside, {article(rng.choice(CREATURES_SMALL))} {rng.choice(SCENE_VERBS)} "
            f"near the {rng.choice(NATURE)}, and {article(rng.choice(VEHICLES))} "
            "went by."
        )
    if shape == 4:
        return (
            f"{hero.name} liked to watch the {plural(rng.choice(CREATURES_SMALL))} "
            f"and count the {plural(rng.choice(VEHICLES))} that passed."
        )
    return (
        f"Near the {rng.choice(HOUSEHOLD)}, {article(rng.choice(CREATURES_SMALL))} "
        f"was {rng.choice(ACTIVITIES)[2]} {rng.choice(ADVERBS)}."
    )


def _friend_intro(rng: random.Random, hero: Hero, friend: Hero) -> str:
    shape = rng.randrange(4)
    if shape == 0:
        return (
            f"{hero.name}'s best friend was {article(rng.choice(TRAIT_ADJECTIVES))} "
            f"{friend.kind} named {friend.name}."
        )
    if shape == 1:
        return (
            f"On the way, {hero.he} met {article(friend.kind)} called {friend.name}, "
            f"who was {rng.choice(TRAIT_ADJECTIVES)} and {rng.choice(TRAIT_ADJECTIVES)}."
        )
    if shape == 2:
        return (
            f"{friend.name} the {friend.kind} lived next door and liked "
            f"to {rng.choice(ACTIVITIES)[0]}."
        )
    return (
        f"Soon {friend.name}, {article(rng.choice(TRAIT_ADJECTIVES))} {friend.kind}, "
        f"came along to {rng.choice(ACTIVITIES)[0]} with {hero.him}."
    )


def _closing(rng: random.Random, hero: Hero, friend: Hero) -> list[str]:
    lines: list[str] = []
    if rng.random() < 0.5:
        lines.append(
            f"{hero.name} felt {rng.choice(FEELINGS)} and {one_of(rng, 'warm|happy|light|glad')} "
            "inside."
        )
    shape = rng.randrange(5)
    moral = rng.choice(MORALS)
    if shape == 0:
        lines.append(f"That day, {hero.name} learned that {moral}.")
    elif shape == 1:
        lines.append(f"From that day on, {hero.name} and {friend.name} were the best of friends.")
    elif shape == 2:
        lines.append(say(rng, hero.name, f"Thank you, {friend.name}. Now I know that {moral}."))
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
    hero = Hero(rng)
    friend = Hero(rng)
    while friend.name == hero.name:
        friend = Hero(rng)
    place = rng.choice(PLACES)
    lines = _opening(rng, hero, place)
    if rng.random() < 0.6:
        lines.append(_scene(rng, hero, place))
    problem = rng.choice(PROBLEMS)
    if problem is not new_friend and rng.random() < 0.7:
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
