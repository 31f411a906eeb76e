"""The hero and the English helpers of the built-in corpus: pronouns, articles, plurals, quotes.

Shared by the story frame (corpus.py) and the problem arcs (corpus_problems.py). Each helper that
takes the story's random.Random draws from it, so calling one more or one fewer changes the rest
of the story.
"""

from __future__ import annotations

import random

from gptlab.data.corpus_words import (
    ADVERBS,
    ANIMALS,
    BOY_NAMES,
    GIRL_NAMES,
    MASS_NOUNS,
    PEOPLE,
    SAID,
)


class Hero:
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


def article(word: str) -> str:
    """'an owl', 'a cat': the indefinite article by the first letter."""
    return ("an " if word[0] in "aeiou" else "a ") + word


def plural(noun: str) -> str:
    """'berries', 'boxes', 'cats'; mass nouns and same-plural animals stay as they are."""
    if noun in MASS_NOUNS:
        return noun
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    if noun.endswith(("s", "sh", "ch", "x", "z")) or noun in ("potato", "tomato", "mango"):
        return noun + "es"
    if noun.endswith("f") and noun not in ("scarf", "chef", "roof"):
        return noun[:-1] + "ves"
    return noun + "s"


def one_of(rng: random.Random, options: str) -> str:
    """One of the '|'-separated options, for short inline choices inside a sentence."""
    return rng.choice(options.split("|"))


def capitalized(text: str) -> str:
    """The text with its first letter upper-cased and the rest as it was (unlike str.capitalize)."""
    return text[0].upper() + text[1:]


def say(rng: random.Random, who: str, words: str) -> str:
    """`words` as a line of dialogue by `who`: the quote first or last, with a speech verb."""
    verb = rng.choice(SAID)
    shape = rng.randrange(3)
    if shape != 1 and words.endswith("."):
        # A quote followed by "said X" ends in a comma, not a full stop.
        words = words[:-1] + ","
    if shape == 0:
        return f'"{words}" {verb} {who}.'
    if shape == 1:
        return f'{capitalized(who)} {verb}, "{words}"'
    return f'"{words}" {who} {verb} {rng.choice(ADVERBS)}.'
