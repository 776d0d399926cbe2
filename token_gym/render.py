"""Text drawn into RGB frames, for ``render_mode="rgb_array"`` (video recorders, render probes).

token_gym depends on numpy, gymnasium and tokenizers only, so the text is drawn with a bitmap font
shipped as data (``font5x7.txt``, 5x7 glyphs for printable ASCII) rather than with Pillow or
matplotlib. Each glyph sits in a 6x8 cell (a column and a row of space), drawn at twice the
size. A :class:`TextFrame` has one size for every text up to its ``max_chars``, because a video
needs every frame of the same shape; its width and height are multiples of 16, which video
encoders want (libx264's macro blocks).
"""

from __future__ import annotations

import math
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from token_gym.encoded import EncodedTask

SCALE = 2
CELL = (8 * SCALE, 6 * SCALE)  # (height, width) of one character in pixels
MARGIN = 8  # pixels of background around the text
MAX_COLUMNS = 64
MISSING = "\ufffd"  # the glyph drawn for characters the font lacks
BACKGROUND = (24, 24, 32)
# text colours: an episode in progress, then one that ended in success or not
INK, SUCCESS_INK, FAILURE_INK = (235, 235, 235), (120, 220, 120), (240, 150, 90)


@cache
def font() -> tuple[dict[str, int], np.ndarray]:
    """(character -> glyph index, (n, H, W) bool glyph images at the drawing scale), read once."""
    lines = resources.files("token_gym").joinpath("font5x7.txt").read_text(encoding="ascii").splitlines()
    lines = [line for line in lines if line and not line.startswith("# ")]  # glyph rows have no spaces
    index, glyphs = {}, []
    for start in range(0, len(lines), 8):
        index[chr(int(lines[start][2:], 16))] = len(glyphs)
        rows = np.array([[cell == "#" for cell in row] for row in lines[start + 1 : start + 8]])  # (7, 5)
        cell = np.zeros((8, 6), dtype=bool)
        cell[:7, :5] = rows
        glyphs.append(cell.repeat(SCALE, axis=0).repeat(SCALE, axis=1))
    return index, np.stack(glyphs)


class TextFrame:
    """Frames of one fixed size for texts of up to ``max_chars`` characters, wrapped at the columns."""

    def __init__(self, max_chars: int):
        columns = min(MAX_COLUMNS, 4 * math.ceil(max(max_chars, 1) / 4))  # a multiple of 4: width % 16 == 0
        self.shape = (math.ceil(max(max_chars, 1) / columns), columns)  # (rows, columns) of characters
        rows, columns = self.shape
        self.frame_shape = (rows * CELL[0] + 2 * MARGIN, columns * CELL[1] + 2 * MARGIN, 3)

    def draw(self, text: str, color: tuple[int, int, int]) -> np.ndarray:
        """An (H, W, 3) uint8 frame of ``text`` in ``color``; characters past the frame are cut."""
        index, glyphs = font()
        rows, columns = self.shape
        codes = np.full(rows * columns, index[" "], dtype=np.int64)
        drawn = [index.get(c, index[MISSING]) for c in text[: rows * columns]]
        codes[: len(drawn)] = drawn
        ink = glyphs[codes.reshape(rows, columns)]  # (rows, columns, cell H, cell W)
        ink = ink.transpose(0, 2, 1, 3).reshape(rows * CELL[0], columns * CELL[1])
        frame = np.empty(self.frame_shape, dtype=np.uint8)
        frame[:] = BACKGROUND
        frame[MARGIN:-MARGIN, MARGIN:-MARGIN][ink] = color
        return frame


def repr_length_bound(characters: str) -> int:
    """The most characters ``repr`` can give to ``characters`` inside a longer string (quotes not counted).

    A quote costs two (``\\'``) when repr has to escape it; every other character what its own repr does.
    """
    return sum(max(len(repr(c)) - 2, 2 if c == "'" else 0) for c in characters)


def episode_text(prompt_index: int, prompt: str, completion: str, over: bool) -> str:
    """What ``render`` shows of one episode, in both envs (one line per row in the vector env)."""
    return f"prompt {prompt_index}: {prompt!r} -> {completion!r}{' [done]' if over else ''}"


def episode_ink(over: bool, success: bool) -> tuple[int, int, int]:
    return INK if not over else SUCCESS_INK if success else FAILURE_INK


def task_frame(encoded_task: EncodedTask) -> TextFrame:
    """The frame every episode of the task fits in: :func:`episode_text`'s longest text bounds it,
    so all frames of a video have one shape."""
    task, vocab = encoded_task.task, encoded_task.vocab
    index = len(str(len(task.prompts) - 1))
    prompt = max(repr_length_bound(p) for p in task.prompts)
    token = max(repr_length_bound(piece) for piece in vocab.token_text)
    completion = encoded_task.max_completion_len * token
    return TextFrame(len(episode_text(0, "", "", True)) - 1 + index + prompt + completion)
