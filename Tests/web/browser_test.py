#!/usr/bin/env python3
"""The web page in a real headless browser (Debian's chromium through Selenium) against a live
`lora serve`:

    python3 Tests/web/browser_test.py --url http://127.0.0.1:PORT --adapter NAME [--expect-run RUN] [--screenshot F]
        [--ban-tokens IDS]

Loads the page, checks the model name and the adapter picker, sends a message and watches the
reply grow while it streams, switches to the adapter and sends again (with Enter), clears the
conversation, and opens the training view (with --expect-run: the run is listed and its loss
and learning-rate curves drawn). --ban-tokens IDS adds a logit_bias of -100 for those ids to the
page's requests that set max_tokens (the model's end tokens: sampled replies then run to it).
--screenshot F saves the chat view with its conversation to F
(and the training view to F-training.png with --expect-run). Prints one line per check; exits
non-zero with the failed check. Needs scripts/install-test-deps.sh (chromium, chromium-driver,
selenium).
"""
import argparse
import json
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)
    print("ok:", message, flush=True)


def wait_for(predicate, timeout, message):
    """Polls predicate until it returns something truthy (returned), else fails with message."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            print("ok:", message, flush=True)
            return value
        time.sleep(0.05)
    raise Failure(f"{message} (waited {timeout} s)")


def start_browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,860"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "SEVERE"})
    started = time.time()
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    print(f"ok: chromium {driver.capabilities.get('browserVersion', '?')} started in {time.time() - started:.1f} s",
          flush=True)
    return driver


def run(driver, a):
    css = lambda selector: driver.find_elements(By.CSS_SELECTOR, selector)
    driver.get(a.url)
    if a.ban_tokens:
        # The page's chat requests with a max_tokens ban the model's end tokens, so a sampled reply
        # cannot end after a token or two and the checks below always see a reply stream.
        bias = {token: -100 for token in a.ban_tokens.split(",")}
        driver.execute_script(
            "const bias = arguments[0]; const original = window.fetch;"
            "window.fetch = (url, options) => {"
            " if (options && options.body && String(url).endsWith('/v1/chat/completions')) {"
            "  const body = JSON.parse(options.body);"
            "  if (body.max_tokens) {"
            "   body.logit_bias = bias; options = Object.assign({}, options, {body: JSON.stringify(body)}); } }"
            " return original(url, options); };", bias)

    name = wait_for(lambda: (t := driver.find_element(By.ID, "model-name").text) != "connecting…" and t,
                    20, "the served model's name appears")
    check(not name.startswith("cannot"), f"the page shows the served model: {name}")
    picker = Select(driver.find_element(By.ID, "model"))
    values = [o.get_attribute("value") for o in picker.options]
    check(len(values) >= 2 and values[0] == name, f"the picker starts with the base model ({values})")
    check(a.adapter in values, f"the picker lists the adapter '{a.adapter}'")

    def replies():
        return [e.text for e in css("#messages .message.assistant .content")]

    def streaming():
        return not driver.find_element(By.ID, "send").is_enabled()

    def type_message(text, max_tokens):
        box = driver.find_element(By.ID, "max-tokens")
        box.clear()
        box.send_keys(str(max_tokens))
        driver.find_element(By.ID, "prompt").send_keys(text)

    # 1. The base model, sent with the button; the reply must be seen growing.
    type_message("Write a short poem about the sea.", 60)
    driver.find_element(By.ID, "send").click()
    wait_for(lambda: css("#messages .message.user"), 5, "the user message shows")
    lengths = []
    deadline = time.time() + 90
    saw_stop = False
    while time.time() < deadline and streaming():
        saw_stop = saw_stop or driver.find_element(By.ID, "stop").is_displayed()
        texts = replies()
        if texts and texts[-1] and (not lengths or lengths[-1] != len(texts[-1])):
            lengths.append(len(texts[-1]))
        time.sleep(0.01)
    check(not streaming(), "the first reply completes")
    check(len(lengths) >= 2, f"the reply grew while streaming (lengths seen: {lengths[:10]})")
    check(saw_stop, "a stop button shows while the reply streams")
    check(replies() and replies()[-1], f"the assistant reply has text: {replies()[-1][:60]!r}")
    errors = [e.text for e in css("#messages .message.error")]
    check(not errors, f"no error message {errors}")

    # 2. The adapter, sent with Enter.
    picker.select_by_value(a.adapter)
    type_message("What is a LoRA adapter?", 30)
    driver.find_element(By.ID, "prompt").send_keys(Keys.ENTER)
    wait_for(lambda: len(css("#messages .message.assistant")) == 2, 10, "Enter sends: a second reply starts")
    wait_for(lambda: not streaming(), 90, "the adapter's reply completes")
    check(replies()[-1], f"the adapter replied: {replies()[-1][:60]!r}")
    meta = [e.text for e in css("#messages .message.assistant .meta")]
    check(meta and meta[-1].startswith(a.adapter), f"the second reply came from '{a.adapter}' ({meta[-1:]})")
    errors = [e.text for e in css("#messages .message.error")]
    check(not errors, f"no error message {errors}")
    if a.screenshot:
        driver.save_screenshot(a.screenshot)
        print("screenshot:", a.screenshot, flush=True)

    # 3. Clear.
    driver.find_element(By.ID, "clear").click()
    check(not css("#messages .message"), "clear empties the conversation")

    # 3b. Clear while a reply streams: nothing of that reply is sent with the next message.
    driver.execute_script(
        "window.sentBodies = []; const original = window.fetch;"
        "window.fetch = (url, options) => { if (options && options.body) window.sentBodies.push(options.body);"
        " return original(url, options); };")
    type_message("Tell me a long story about a lighthouse keeper.", 200)
    driver.find_element(By.ID, "send").click()
    wait_for(lambda: streaming() and replies() and replies()[-1], 60, "a long reply streams")
    driver.find_element(By.ID, "clear").click()
    wait_for(lambda: not streaming(), 10, "clear stops the streaming reply")
    check(not css("#messages .message"), "clear during a reply empties the conversation")
    box = driver.find_element(By.ID, "max-tokens")
    box.clear()  # empty: the server's default
    driver.find_element(By.ID, "prompt").send_keys("Hi")
    driver.find_element(By.ID, "send").click()
    wait_for(lambda: len(css("#messages .message.assistant")) == 1 and not streaming(), 90, "the next message is answered")
    sent = json.loads(driver.execute_script("return window.sentBodies[window.sentBodies.length - 1]"))
    check([m["role"] for m in sent["messages"]] == ["user"], f"only the new message is sent ({sent['messages']})")
    check("max_tokens" not in sent, "an empty max-tokens box leaves the limit to the server")
    driver.find_element(By.ID, "clear").click()

    # 4. Training view.
    driver.find_element(By.ID, "tab-training").click()
    wait_for(lambda: driver.find_element(By.ID, "loss-chart").is_displayed(), 5, "the training view opens")
    if a.expect_run:
        # The view redraws every 2 s, so elements are read in one script call, not held.
        runs = lambda: driver.execute_script("return [...document.querySelectorAll('#runs option')].map(o => o.value)")
        wait_for(lambda: a.expect_run in runs(), 10, f"the training view lists run '{a.expect_run}'")
        Select(driver.find_element(By.ID, "runs")).select_by_value(a.expect_run)
        path = lambda chart: driver.execute_script(
            "return [...document.querySelectorAll(arguments[0])].filter(p => (p.getAttribute('d') || '').length > 10)"
            ".length", f"#{chart} path")
        wait_for(lambda: path("loss-chart"), 10, "the loss curve is drawn")
        wait_for(lambda: path("lr-chart"), 10, "the learning-rate curve is drawn")
        labels = driver.execute_script("return [...document.querySelectorAll('#loss-chart text')].map(t => t.textContent)")
        check(len(labels) > 4 and "step" in labels, f"the loss chart has axis labels {labels[:4]}...")
        if a.screenshot:
            shot = a.screenshot[:-4] + "-training.png" if a.screenshot.endswith(".png") else a.screenshot + "-training"
            driver.save_screenshot(shot)
            print("screenshot:", shot, flush=True)
    logs = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    check(not logs, f"no errors in the browser console {logs[:3]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8080")
    ap.add_argument("--adapter", required=True, help="an adapter the server serves")
    ap.add_argument("--expect-run", help="a training run under the server's --runs folder")
    ap.add_argument("--screenshot", help="save the chat view here (PNG)")
    ap.add_argument("--ban-tokens", help="comma-separated token ids (the model's end tokens) the page's requests ban")
    a = ap.parse_args()
    driver = None
    try:
        try:
            urllib.request.urlopen(a.url.rstrip("/") + "/health", timeout=10).read()
        except OSError as e:
            raise Failure(f"the server does not answer at {a.url}/health: {e}")
        driver = start_browser()
        run(driver, a)
    except Failure as e:
        print("FAIL:", e, flush=True)
        return 1
    except WebDriverException as e:
        print("FAIL: browser error:", e.msg or e, flush=True)
        return 1
    finally:
        if driver is not None:
            driver.quit()
    print("browser test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
