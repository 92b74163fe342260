#!/usr/bin/env python3
"""The web page in a real headless browser (Debian's chromium through Selenium) against a live
`lora serve`:

    python3 Tests/web/browser_test.py --url http://127.0.0.1:PORT --adapter NAME [--expect-run RUN] [--screenshot F]

Loads the page, checks the model name and the adapter picker, sends a message and watches the
reply grow while it streams, switches to the adapter and sends again, clears the conversation,
and opens the training view (with --expect-run: the run is listed and its loss curve drawn).
Exits non-zero with the failed check.
"""
import argparse, sys, time
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select


def check(condition, message):
    if not condition:
        print("FAIL:", message)
        sys.exit(1)
    print("ok:", message)


def wait_for(predicate, timeout, message):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    check(False, message + f" (waited {timeout}s)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--adapter", required=True)
    ap.add_argument("--expect-run")
    ap.add_argument("--screenshot")
    a = ap.parse_args()
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,860"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(a.url)
        name = wait_for(lambda: (t := driver.find_element(By.ID, "model-name").text) != "connecting…" and t,
                        20, "the served model's name appears")
        picker = Select(driver.find_element(By.ID, "model"))
        values = [o.get_attribute("value") for o in picker.options]
        check(values and values[0] == name, f"the picker starts with the base model ({name})")
        check(a.adapter in values, f"the picker lists the adapter '{a.adapter}'")

        def assistant_text():
            replies = driver.find_elements(By.CSS_SELECTOR, "#messages .message.assistant")
            return replies[-1].text if replies else ""

        def send(text, max_tokens):
            box = driver.find_element(By.ID, "max-tokens")
            box.clear()
            box.send_keys(str(max_tokens))
            prompt = driver.find_element(By.ID, "prompt")
            prompt.send_keys(text)
            driver.find_element(By.ID, "send").click()

        send("Write a short poem about the sea.", 60)
        wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#messages .message.user"), 5, "the user message shows")
        # Streaming: the reply is seen at two or more different lengths before it completes.
        lengths = set()
        deadline = time.time() + 60
        while time.time() < deadline and driver.find_element(By.ID, "send").is_enabled() is False:
            text = assistant_text()
            if text:
                lengths.add(len(text))
            time.sleep(0.01)
        check(len(lengths) >= 2, f"the reply grew while streaming (lengths seen: {sorted(lengths)[:8]}...)")
        wait_for(lambda: driver.find_element(By.ID, "send").is_enabled(), 60, "the reply completes")
        check(len(assistant_text()) > 0, "the assistant reply has text")
        check(not driver.find_elements(By.CSS_SELECTOR, "#messages .message.error"), "no error message")

        picker.select_by_value(a.adapter)
        send("What is a DDoS attack?", 30)
        wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#messages .message.assistant")) == 2, 10,
                 "a second reply starts")
        wait_for(lambda: driver.find_element(By.ID, "send").is_enabled(), 60, "the adapter's reply completes")
        meta = driver.find_elements(By.CSS_SELECTOR, "#messages .message.assistant .meta")
        check(meta and meta[-1].text.startswith(a.adapter), f"the second reply came from '{a.adapter}'")
        if a.screenshot:
            driver.save_screenshot(a.screenshot)
            print("screenshot:", a.screenshot)

        driver.find_element(By.ID, "clear").click()
        check(not driver.find_elements(By.CSS_SELECTOR, "#messages .message"), "clear empties the conversation")

        driver.find_element(By.ID, "tab-training").click()
        if a.expect_run:
            wait_for(lambda: a.expect_run in [o.get_attribute("value") for o in
                                              Select(driver.find_element(By.ID, "runs")).options],
                     10, f"the training view lists run '{a.expect_run}'")
            wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#loss-chart path"), 10, "the loss curve is drawn")
            wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#lr-chart path"), 10,
                     "the learning-rate curve is drawn")
            if a.screenshot:
                shot = a.screenshot.replace(".png", "-training.png")
                driver.save_screenshot(shot)
                print("screenshot:", shot)
    finally:
        driver.quit()
    print("browser test passed")


if __name__ == "__main__":
    main()
