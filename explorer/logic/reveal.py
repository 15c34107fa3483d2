"""How far a prediction was from the measured answer (pure: numbers in, numbers and words out).

The Lesson page measures the answer on the real models and data (explorer/ui/lesson.py) and
hands it here with the student's prediction; the result is what Reveal shows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np


class Outcome(NamedTuple):
    answer_text: str  # the measured answer, in words with its numbers
    off_text: str  # how far off the prediction was
    score: float  # a distance (0 is exact) or, for a choice, 0 when right and 1 when wrong


def map_code(click: Sequence[float], code: np.ndarray, all_codes: np.ndarray) -> Outcome:
    """A click against where a test image encodes (``code``, 2-D): the distance in latent units, and
    the share of the test set's codes that lie nearer the answer than the click did."""
    click, code = np.asarray(click, float), np.asarray(code, float).reshape(-1)
    distance = float(np.linalg.norm(click - code))
    nearer = float(np.mean(np.linalg.norm(np.asarray(all_codes, float) - code, axis=1) < distance))
    return Outcome(f"it encodes at ({code[0]:.2f}, {code[1]:.2f})",
                   f"your click was {distance:.2f} away; {nearer:.0%} of the test images' codes lie nearer "
                   "to the answer than your click", distance)


def map_samples(click: Sequence[float], samples: np.ndarray, mean: np.ndarray, sigma: np.ndarray) -> Outcome:
    """A click against K draws of q(z|x) = N(mean, diag sigma²): the click's distance from the mean in
    posterior standard deviations, and the share of the draws that lie nearer the mean in that measure."""
    click, mean, sigma = np.asarray(click, float), np.asarray(mean, float), np.asarray(sigma, float)
    scaled = float(np.linalg.norm((click - mean) / sigma))
    draws = np.linalg.norm((np.asarray(samples, float) - mean) / sigma, axis=1)
    inside = float(np.mean(draws <= scaled))
    return Outcome(f"{len(samples)} draws of q(z|x) centre on ({mean[0]:.2f}, {mean[1]:.2f}), "
                   f"σ = ({sigma[0]:.2f}, {sigma[1]:.2f})",
                   f"your click was {scaled:.1f} σ from their centre; {inside:.0%} of the draws fall at least as near",
                   scaled)


def choice(picked: str, options: Sequence[str], answer: str, detail: str) -> Outcome:
    """A choice against the measured one; ``detail`` holds the measurement behind it."""
    right = picked == answer
    return Outcome(f"the measured answer is **{answer}**: {detail}", "right" if right else f"you chose {picked}",
                   0.0 if right else 1.0)


def nearest_option(value: float, options: Sequence[str]) -> str:
    """The option (numbers as text) nearest ``value``."""
    return min(options, key=lambda o: abs(float(o) - value))


def curve_point(placed: Sequence[float], answer: Sequence[float], rates: Sequence[float],
                distortions: Sequence[float], min_rate: float = 0.01) -> Outcome:
    """A point placed on the rate-distortion plane against the model's measured (rate, distortion).

    The distance is in units of the curve's extent on each axis as drawn: log rate (rates below
    ``min_rate`` count as ``min_rate``) and linear distortion; 1 = the whole curve's width."""
    placed, answer = np.asarray(placed, float), np.asarray(answer, float)
    log_rates = np.log10(np.maximum(np.asarray(rates, float), min_rate))
    extent = np.array([np.ptp(log_rates), np.ptp(distortions)], float)
    extent[extent <= 0] = 1.0
    gap = np.array([np.log10(max(placed[0], min_rate)) - np.log10(max(answer[0], min_rate)), placed[1] - answer[1]])
    scaled = float(np.linalg.norm(gap / extent))
    d_rate, d_dist = placed - answer
    return Outcome(f"it sits at rate {answer[0]:.2f} nats, distortion {answer[1]:.1f} nats",
                   f"your point was off by {d_rate:+.2f} nats of rate and {d_dist:+.1f} nats of distortion "
                   f"({scaled:.0%} of the curve's extent on the chart's axes)", scaled)


def judge_samples(samples: np.ndarray, references: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Two measures of decoded samples against labelled reference (test) images:

    - the mean, over the samples, of the squared distance per pixel to the nearest reference
      (small when samples look like the data);
    - the entropy, in bits, of the labels of those nearest references (a 1-nearest-neighbour
      classifier in pixel space): log2(10) = 3.32 when the samples spread evenly over ten digits,
      0 when they are all one digit.
    """
    s = np.asarray(samples, np.float64).reshape(len(samples), -1)
    r = np.asarray(references, np.float64).reshape(len(references), -1)
    d2 = (s ** 2).sum(1)[:, None] - 2 * s @ r.T + (r ** 2).sum(1)[None, :]
    nearest = d2.argmin(axis=1)
    distance = float(np.maximum(d2[np.arange(len(s)), nearest], 0.0).mean() / s.shape[1])
    return distance, label_bits(np.asarray(labels)[nearest])


def label_bits(labels: np.ndarray) -> float:
    """The entropy, in bits, of a set of labels: log2(k) when k labels are equally common; 0 for none."""
    counts = np.unique(np.asarray(labels), return_counts=True)[1]
    if counts.sum() == 0:
        return 0.0
    shares = counts / counts.sum()
    return float(-(shares * np.log2(shares)).sum())


def votes(picks: Sequence[str], options: Sequence[str]) -> list[int]:
    """How many picks each option got, in the options' order (picks of other options are ignored)."""
    counted = Counter(picks)
    return [counted.get(o, 0) for o in options]


__all__ = ["Outcome", "map_code", "map_samples", "choice", "nearest_option", "curve_point", "judge_samples", "label_bits", "votes"]
