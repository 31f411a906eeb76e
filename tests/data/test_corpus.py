"""Tests for the built-in procedural story corpus: determinism, speed, variety and story length."""

from __future__ import annotations

import re
import statistics
import time

import pytest

from gptlab.data.corpus import (
    BUILTIN_SOURCE,
    DEFAULT_NUM_STORIES,
    generate_stories,
    generate_story,
)

WORD = re.compile(r"[a-z]+")


@pytest.fixture(scope="module")
def full_corpus() -> tuple[list[str], float]:
    """The default-size corpus for seed 0 and the seconds it took to generate."""
    start_s = time.perf_counter()
    stories = list(generate_stories(DEFAULT_NUM_STORIES, seed=0))
    return stories, time.perf_counter() - start_s


def test_constants() -> None:
    assert BUILTIN_SOURCE == "builtin"
    assert DEFAULT_NUM_STORIES == 20_000


def test_same_seed_same_text_and_stories_are_independent() -> None:
    first = list(generate_stories(50, seed=7))
    assert first == list(generate_stories(50, seed=7))
    # Story i does not depend on the stories generated before it.
    assert generate_story(7, 42) == first[42]
    assert [generate_story(7, i) for i in range(10)] == first[:10]


def test_different_seeds_and_indices_differ() -> None:
    a = list(generate_stories(50, seed=0))
    b = list(generate_stories(50, seed=1))
    assert all(x != y for x, y in zip(a, b, strict=True))
    assert len(set(a)) == 50


def test_generate_stories_is_lazy_and_counts() -> None:
    assert list(generate_stories(0)) == []
    stories = generate_stories(3, seed=5)
    assert next(stories) == generate_story(5, 0)
    assert len(list(stories)) == 2


def test_speed_of_the_default_corpus(full_corpus: tuple[list[str], float]) -> None:
    stories, elapsed_s = full_corpus
    assert len(stories) == DEFAULT_NUM_STORIES
    # Measured ~1-2 s on one core; the bound is generous for a busy shared machine.
    assert elapsed_s < 30.0, f"{DEFAULT_NUM_STORIES} stories took {elapsed_s:.1f} s"


def test_vocabulary_is_large(full_corpus: tuple[list[str], float]) -> None:
    stories, _ = full_corpus
    types: set[str] = set()
    for story in stories:
        types.update(WORD.findall(story.lower()))
    assert len(types) >= 2000, f"only {len(types)} distinct words"


def test_story_lengths_and_content(full_corpus: tuple[list[str], float]) -> None:
    stories, _ = full_corpus
    word_counts = [len(story.split()) for story in stories]
    assert 80 <= statistics.median(word_counts) <= 250
    in_range = sum(80 <= n <= 250 for n in word_counts)
    assert in_range / len(stories) > 0.95
    for story in stories:
        assert "<|endoftext|>" not in story
        assert story == story.strip() and story[0].isupper()
        assert story.rstrip()[-1] in '.!?"'


def test_stories_have_dialogue_and_paragraphs() -> None:
    stories = list(generate_stories(200, seed=3))
    assert sum('"' in story for story in stories) > 150
    assert all(story.count("\n\n") == 2 for story in stories)
    # Several distinct plots: the opening words of the middle paragraph vary a lot.
    openings = {story.split("\n\n")[1].split()[0] for story in stories}
    assert len(openings) > 20
