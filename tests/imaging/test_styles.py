"""Writing styles drawn onto training digits: each draws what it says, where it says, and keeps labels."""

import numpy as np
import pytest

from digitnet.imaging.augment import AUGMENTATIONS, Augment
from digitnet.imaging.styles import STYLES, add_styles, draw_polyline, refit_matrices, style_strokes


def stroke(points, size=28, width=2.5):
    image = np.zeros((size, size), np.float32)
    for line in points:
        draw_polyline(image, np.array(line, float), width)
    return image


def ring():
    """A plain MNIST-like 0: an ellipse 18 rows tall, 12 columns wide, centred."""
    t = np.linspace(0, 2 * np.pi, 40)
    return stroke([np.stack([13.5 + 9 * np.sin(t), 13.5 + 6 * np.cos(t)], 1)])


def stem():
    """A plain 1: a vertical bar from row 4 to row 23 in column 14."""
    return stroke([[(4, 14), (23, 14)]])


def seven():
    return stroke([[(5, 7), (5, 20), (23, 11)]])


def nine():
    t = np.linspace(0, 2 * np.pi, 30)
    return stroke([np.stack([9 + 4.5 * np.sin(t), 13 + 4.5 * np.cos(t)], 1), [(9, 17.5), (23, 16)]])


def test_a_drawn_line_has_full_ink_inside_a_one_pixel_ramp_and_nothing_beyond():
    image = stroke([[(14, 4), (14, 24)]], width=3.5)
    assert image[14, 10] == 1 and image[13, 10] == 1 and image[15, 10] == 1  # within 1.75 of the line
    assert image[16, 10] == pytest.approx(0.25) and image[17, 10] == 0  # a one-pixel ramp, then none
    assert image[14, 2] == pytest.approx(0.25) and image[14, 1] == 0 and image[14, 27] == 0  # round ends
    dot = stroke([[(10, 10)]], width=3)
    assert dot[10, 10] == 1 and dot.sum() > 5


def test_a_slash_crosses_the_ring_from_lower_left_to_upper_right():
    digit = ring()
    (line,) = style_strokes(digit, "slash", np.random.default_rng(0))
    (low, high) = line if line[0, 0] > line[1, 0] else line[::-1]
    assert low[0] > 22 and high[0] < 5  # it reaches past the ring's top and bottom
    assert low[1] < high[1]  # rising to the right
    drawn = digit.copy()
    draw_polyline(drawn, line, 2.5)
    assert drawn[13:15, 12:16].max() == 1 and digit[13:15, 12:16].max() == 0  # new ink in the empty middle


def test_a_flag_goes_down_and_left_from_the_top_and_a_foot_lies_across_the_bottom():
    digit = stem()
    (flag,) = style_strokes(digit, "flag", np.random.default_rng(1))
    assert flag[0].tolist() == [3, 14] and flag[1][0] > 3 and flag[1][1] < 14  # the ink's top: row 3
    (foot,) = style_strokes(digit, "foot", np.random.default_rng(1))
    assert foot[0][0] == foot[1][0] == 24 and foot[0][1] < 14 < foot[1][1]


def test_a_cross_bar_lies_across_the_stem_of_the_seven_below_half_height():
    digit = seven()
    (bar,) = style_strokes(digit, "cross", np.random.default_rng(2))
    row = bar[:, 0].mean()
    assert 5 + 0.4 * 19 < row < 5 + 0.7 * 19 and abs(bar[0, 0] - bar[1, 0]) < 3
    stem_col = np.flatnonzero(digit[int(round(row))] >= 0.5).mean()
    assert bar[:, 1].min() < stem_col < bar[:, 1].max()


def test_a_curl_turns_the_nines_tail_to_the_left():
    digit = nine()
    (hook,) = style_strokes(digit, "curl", np.random.default_rng(3))
    assert hook[0, 1] > hook[-1, 1]  # it ends left of where it starts
    assert hook[:, 0].max() > 23  # and dips below the tail's end


@pytest.mark.parametrize("digit", sorted(STYLES))
def test_styles_are_drawn_only_on_their_digits_and_keep_everything_else(digit):
    images = np.stack([ring(), stem(), seven(), nine(), stem()])
    labels = np.array([0, 1, 7, 9, 3])  # the last is "a 3": no style exists for it
    before = images.copy()
    drawn = add_styles(images, labels, np.random.default_rng(4), rate=1.0)
    assert drawn.tolist() == [0, 1, 2, 3]
    for k in drawn:
        assert (images[k] >= before[k]).all() and images[k].sum() > before[k].sum() + 3  # ink only added
    assert (images[4] == before[4]).all()
    none = add_styles(before.copy(), labels, np.random.default_rng(4), rate=0.0)
    assert none.size == 0


def test_refitting_shrinks_a_digit_to_twenty_pixels_and_centres_its_mass():
    wide = stroke([[(14, 1), (14, 26)]])  # 26 columns long with its round ends
    (m,) = refit_matrices(wide[None])
    assert m[0, 0] == pytest.approx(20 / 27, rel=0.05) and m[0, 1] == 0
    mass_row = (wide.sum(1) @ np.arange(28)) / wide.sum()
    assert m[0, 0] * mass_row + m[0, 2] == pytest.approx(14)
    (small,) = refit_matrices(stroke([[(6, 14), (20, 14)]])[None])  # inside 20 pixels: only moved
    assert small[0, 0] == 1


def test_augment_with_styles_needs_labels_and_is_reproducible(mnist):
    x, y = mnist.train.x[:256], mnist.train.y[:256]
    augment = AUGMENTATIONS["styles"]
    with pytest.raises(ValueError, match="labels"):
        augment(x, np.random.default_rng(0))
    with pytest.raises(ValueError, match="one per image"):
        augment(x, np.random.default_rng(0), labels=y[:3])
    first = augment(x, np.random.default_rng(5), labels=y)
    again = augment(x, np.random.default_rng(5), labels=y)
    assert np.array_equal(first, again) and first.shape == x.shape and 0 <= first.min() and first.max() <= 1
    assert np.array_equal(x, mnist.train.x[:256])  # the caller's images are untouched


def test_styled_zeros_gain_ink_in_their_empty_middle(mnist):
    """Pixels checked on real MNIST zeros: a slash puts ink where a plain ring has none."""
    zeros = mnist.train.x[mnist.train.y == 0][:100]
    only_styles = Augment(shift=0, rotation=0, scale=0, shear=0, elastic_alpha=0, styles=1.0)
    styled = only_styles(zeros, np.random.default_rng(6), labels=np.zeros(100, int)).reshape(-1, 28, 28)
    middle = (slice(12, 17), slice(12, 17))
    assert zeros.reshape(-1, 28, 28)[(slice(None), *middle)].mean() < 0.15
    assert styled[(slice(None), *middle)].mean() > 0.3


def test_styles_is_a_named_augmentation_and_zero_styles_changes_nothing(mnist):
    assert AUGMENTATIONS["styles"].styles > 0 and AUGMENTATIONS["affine"].styles == 0
    x = mnist.train.x[:64]
    plain = Augment()(x, np.random.default_rng(7))
    labelled = Augment()(x, np.random.default_rng(7), labels=mnist.train.y[:64])  # labels ignored
    assert np.array_equal(plain, labelled)
    with pytest.raises(ValueError, match="styles"):
        Augment(styles=1.5)
