"""The drawing page end to end in headless Chromium: draw digits with pointer events, read the answer.

Needs Debian's ``chromium`` (``/usr/bin/chromium``, installed by ``.ci/run``) and Playwright's Python
package; skipped cleanly without them. A screenshot is saved beside the test's tmp_path on failure.
"""

import math
import re
import shutil
from pathlib import Path

import pytest

from digitnet.modelfile import load_model
from digitnet.models import MLP_MODEL
from digitnet.serve import create_app

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

STROKES = {  # polylines on the 280x280 pad
    0: [[(140 + 60 * math.cos(t * math.pi / 10), 140 + 90 * math.sin(t * math.pi / 10)) for t in range(21)]],
    1: [[(150, 50), (150, 230)]],
    7: [[(80, 60), (200, 60), (120, 230)]],
    4: [[(170, 230), (170, 50), (80, 170), (210, 170)]],
}


STYLED = {  # on the 280x280 pad, drawn through pointer events
    "slashed zero": [
        [(140 + 55 * math.cos(t * math.pi / 10), 140 + 90 * math.sin(t * math.pi / 10)) for t in range(21)],
        [(95, 245), (185, 35)],
    ],
    "flagged one": [[(95, 95), (160, 40), (160, 240)]],
    "crossed seven": [[(70, 50), (210, 50), (120, 245)], [(95, 150), (200, 148)]],
    "ambiguous": [[(70, 90), (170, 45), (165, 240)]],  # a 1 whose flag is nearly as long as a 7's bar
}


@pytest.fixture(scope="module")
def server(start_server):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with start_server() as (url, _):
        yield url


def launch(p):
    return p.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    )


@pytest.fixture
def page(server):
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        tab = browser.new_page(viewport={"width": 1100, "height": 900})
        tab.goto(server)
        tab.wait_for_function("document.querySelector('#model').options.length > 0")
        yield tab
        browser.close()


def draw(tab, strokes):
    box = tab.locator("#pad").bounding_box()
    tab.click("#clear")
    for stroke in strokes:
        tab.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
        tab.mouse.down()
        for x, y in stroke[1:]:
            tab.mouse.move(box["x"] + x, box["y"] + y, steps=6)
        tab.mouse.up()
    tab.wait_for_timeout(100)
    tab.wait_for_function("document.querySelector('#answer').dataset.pending === 'no'", timeout=10_000)


@pytest.mark.parametrize("digit", sorted(STROKES))
def test_drawn_digit_is_recognised_and_the_network_lights_up(page, digit, tmp_path):
    draw(page, STROKES[digit])
    try:
        assert page.locator("#answer").text_content().strip() == str(digit)
        assert page.locator("#net circle").count() == 26  # 16 most active hidden neurons and 10 outputs
        assert page.locator("#bars .bar").count() == 10
    except AssertionError:
        page.screenshot(path=str(tmp_path / f"digit-{digit}.png"))
        raise


def test_the_page_opens_on_the_bundled_cnn_and_offers_the_mlp(page):
    assert page.locator("#model").input_value() == "cnn"
    offered = page.locator("#model option").all_text_contents()
    assert [o.split(" ")[0] for o in offered] == ["cnn", "lenet5", "mlp"]


@pytest.mark.parametrize(
    "name, digit", [("slashed zero", 0), ("flagged one", 1), ("crossed seven", 7)], ids=["0", "1", "7"]
)
def test_the_default_model_reads_the_styles_mnist_lacks(page, name, digit, tmp_path):
    draw(page, STYLED[name])
    try:
        assert page.locator("#answer").text_content().strip() == str(digit)
        assert page.locator("#answer").get_attribute("data-sure") == "yes"
    finally:
        page.screenshot(path=str(tmp_path / f"style-{digit}.png"))


def test_an_ambiguous_drawing_is_not_sure_and_names_two_digits(page, tmp_path):
    draw(page, STYLED["ambiguous"])
    text = page.locator("#answer").text_content().strip()
    page.screenshot(path=str(tmp_path / "ambiguous.png"))
    assert page.locator("#answer").get_attribute("data-sure") == "no"
    assert re.fullmatch(r"not sure: [17] or [17]\?", text), text
    assert "answers from" in page.locator("#why").text_content()


def test_empty_canvas_is_not_a_digit(page):
    draw(page, STROKES[1])
    page.click("#clear")
    page.wait_for_timeout(300)
    assert page.locator("#answer").text_content().strip() == "draw a digit"
    assert page.locator("#bars .bar").count() == 0


def test_random_test_digit_is_loaded_and_answered(page):
    page.click("#random")
    page.wait_for_timeout(150)
    page.wait_for_function("document.querySelector('#answer').dataset.pending === 'no'", timeout=10_000)
    answer = page.locator("#answer").text_content().strip()
    assert answer in set(map(str, range(10))) or re.fullmatch(r"not sure: \d or \d\?", answer)
    assert page.locator("#bars .bar").count() == 10


def test_uploaded_photo_is_recognised(page, mnist, tmp_path):
    from PIL import Image

    digit = mnist.test.images[0]  # a 7
    photo = (255 * (1 - digit)).astype("uint8")  # dark ink on light paper, as a photo would be
    path = tmp_path / "seven.png"
    Image.fromarray(photo).resize((300, 300)).save(path)
    page.set_input_files("#file", str(path))
    page.wait_for_timeout(150)
    page.wait_for_function("document.querySelector('#answer').dataset.pending === 'no'", timeout=10_000)
    assert page.locator("#answer").text_content().strip() == str(mnist.test.y[0])


def test_the_bundled_cnn_reads_a_drawn_digit_too(page, tmp_path):
    page.select_option("#model", "lenet5")
    draw(page, STROKES[7])
    try:
        assert page.locator("#answer").text_content().strip() == "7"
        assert page.locator("#net circle").count() == 42  # 16 of its 120 and of its 84 units, 10 outputs
    except AssertionError:
        page.screenshot(path=str(tmp_path / "lenet5.png"))
        raise


def test_the_page_posts_with_its_origin_and_is_answered(page, server):
    """Chromium sends Origin with the page's POSTs: the server must know them for its own."""
    with page.expect_request("**/api/predict") as sent:
        draw(page, STROKES[1])
    assert sent.value.all_headers().get("origin") == server  # .headers leaves security headers out
    assert page.locator("#answer").text_content().strip() == "1"


def test_docs_page_renders_the_api_with_nothing_from_elsewhere(server):
    elsewhere = []

    def only_this_server(route):
        if route.request.url.startswith(server + "/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as p:
        browser = launch(p)
        tab = browser.new_page()
        tab.route("**/*", only_this_server)
        tab.goto(server + "/docs")
        tab.wait_for_function("document.querySelectorAll('#operations section').length >= 4", timeout=10_000)
        text = tab.locator("#operations").inner_text()
        browser.close()
    assert "POST /api/predict" in text and "GET /api/health" in text and "minItems" in text
    assert not elsewhere, elsewhere


CROSS_ORIGIN_FETCH = """async ([url, pixels]) => {
  try {
    const reply = await fetch(url, {method: "POST", headers: {"content-type": "application/json"},
                                    body: JSON.stringify({pixels})});
    return {status: reply.status, digit: (await reply.json()).digit};
  } catch (error) {
    return {error: error.name};  // the browser refused: no CORS answer
  }
}"""
"""A JSON POST from the open page to another origin: Chromium sends a preflight first."""


def test_only_a_page_allowed_with_allow_origin_can_call_the_api(start_server, pick_port):
    """localhost:PORT and 127.0.0.1:PORT are two origins of one server: only the first is allowed."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    port = pick_port()
    allowed, other = f"http://localhost:{port}", f"http://127.0.0.1:{port}"
    bar = [[0.0] * 28] * 10 + [[0.0] * 12 + [1.0] * 4 + [0.0] * 12] * 10 + [[0.0] * 28] * 8
    answers = {}
    with start_server(args=["--allow-origin", allowed], port=port), sync_api.sync_playwright() as p:
        browser = launch(p)
        tab = browser.new_page()
        for page_at, api_at in ((allowed, other), (other, allowed)):
            tab.goto(page_at + "/")
            answers[page_at] = tab.evaluate(CROSS_ORIGIN_FETCH, [api_at + "/api/predict", bar])
        browser.close()
    assert answers[allowed]["status"] == 200 and 0 <= answers[allowed]["digit"] <= 9, answers
    assert answers[other] == {"error": "TypeError"}, answers  # its preflight got 403, no CORS headers


def test_model_names_and_architectures_are_shown_as_text_never_run(start_app):
    """What /api/models lists comes from model files and folder names: a crafted one must stay text."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    crafted = load_model(MLP_MODEL)
    crafted.metrics["architecture"] = "<img src=x onerror=\"document.title='ran'\">"
    name = "<b onmouseover=alert(1)>m</b>"
    app = create_app({name: crafted}, name)
    with start_app(app) as url, sync_api.sync_playwright() as p:
        browser = launch(p)
        tab = browser.new_page()
        tab.goto(url + "/")
        tab.wait_for_function("document.querySelector('#model').options.length > 0")
        shown = tab.evaluate(
            "[document.title, document.querySelector('#model').options[0].text,"
            " document.querySelector('#model').value, document.querySelectorAll('img').length]"
        )
        browser.close()
    title, text, value, images = shown
    assert title != "ran" and images == 0
    assert text == f"{name} ({crafted.metrics['architecture']})" and value == name


PEN_STROKES = [  # a slashed zero, a flagged 1 with a foot and a crossed 7, with curves, dots and joins
    [[(140 + 60 * math.cos(t * math.pi / 12), 140 + 95 * math.sin(t * math.pi / 12)) for t in range(25)]],
    [[(90, 250), (200, 30)]],
    [[(120, 90), (160, 40), (160, 240)], [(110, 240), (210, 240)], [(60, 60)]],
    [[(70, 50.5), (210.25, 50), (115, 245)], [(100, 150.7), (190.3, 145)]],
]


@pytest.mark.parametrize("strokes", PEN_STROKES, ids=["zero", "slash", "one", "seven"])
def test_the_python_pen_draws_what_the_canvas_draws(page, strokes):
    """digitnet.imaging.pen renders strokes as the page's canvas does: the same picture up to anti-aliasing
    at the strokes' edges, and the same 28x28 input for the network."""
    import numpy as np

    from digitnet.imaging import preprocess
    from digitnet.imaging.pen import BRUSH, PAD, render_strokes

    assert page.evaluate("[pad.width, pad.height, +document.getElementById('brush').value]") == [
        PAD,
        PAD,
        BRUSH,
    ]
    canvas = page.evaluate(
        """([drawn, width]) => {
             strokes = drawn.map(points => ({width, points}));
             backdrop = null; repaint();
             const data = ctx.getImageData(0, 0, pad.width, pad.height).data;
             return Array.from({length: data.length / 4}, (_, i) => data[4 * i]); }""",
        [[[list(p) for p in stroke] for stroke in strokes], BRUSH],
    )
    canvas = np.array(canvas, dtype=np.uint8).reshape(PAD, PAD)
    ours = render_strokes(strokes)
    difference = np.abs(canvas.astype(int) - ours.astype(int))
    assert difference.mean() < 1.0  # grey levels, 0..255: only edge pixels differ
    assert np.count_nonzero(difference > 64) < 0.002 * difference.size
    theirs, mine = preprocess(canvas), preprocess(ours)
    assert theirs.box == mine.box
    assert np.abs(theirs.fitted - mine.fitted).max() < 0.03  # the 20-pixel fits agree
    # and so do the inputs, up to the whole-pixel centring, which a mass centre on a half pixel can flip
    shifts = [np.roll(mine.input, (dy, dx), axis=(0, 1)) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    assert min(np.abs(theirs.input - shifted).max() for shifted in shifts) < 0.03
