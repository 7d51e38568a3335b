"""Headless Chromium for the viewer tests: Debian's chromium and
chromium-driver, which .ci/run installs (the tests never install anything).
Without them the viewer tests fail with the command that installs them."""

import io
import shutil
import time

import imageio.v3 as iio
import numpy as np

INSTALL = "apt-get install -y chromium chromium-driver"


def executables() -> tuple[str, str]:
  """(chromium, chromedriver) paths.

  Raises:
    RuntimeError: either is not on PATH (names the missing ones and the
      install command of .ci/run).
  """
  found = shutil.which("chromium"), shutil.which("chromedriver")
  if not all(found):
    missing = [name for name, path in zip(("chromium", "chromedriver"), found)
               if not path]
    raise RuntimeError(
        f"the viewer tests need {' and '.join(missing)} on PATH; install "
        f"them as .ci/run does: {INSTALL} (Debian)")
  return found


def open_browser(width: int = 1000, height: int = 800):
  from selenium import webdriver
  from selenium.webdriver.chrome.options import Options
  from selenium.webdriver.chrome.service import Service
  chromium, driver = executables()
  options = Options()
  options.binary_location = chromium
  for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
              f"--window-size={width},{height}", "--force-device-scale-factor=1",
              "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
              "--ignore-gpu-blocklist"):
    options.add_argument(arg)
  return webdriver.Chrome(service=Service(driver), options=options)


def wait_for_state(browser, state: str, timeout: float) -> None:
  end = time.time() + timeout
  while time.time() < end:
    if browser.execute_script("return document.body.dataset.state") == state:
      return
    time.sleep(0.2)
  raise TimeoutError(f"page never reached state {state!r}; status: "
                     + str(browser.execute_script(
                         "var s = document.getElementById('status');"
                         "return s ? s.textContent : null")))


def element_pixels(browser, element_id: str) -> np.ndarray:
  """The element's screenshot as float RGB [H, W, 3] in [0, 1]."""
  from selenium.webdriver.common.by import By
  png = browser.find_element(By.ID, element_id).screenshot_as_png
  return iio.imread(io.BytesIO(png))[..., :3].astype(np.float32) / 255


def ready_pixels(url: str, timeout: float = 120,
                 element_id: str = "view") -> np.ndarray:
  """Opens `url` in a fresh headless browser, waits for the page's "ready"
  state and returns the element's pixels (element_pixels)."""
  page = open_browser()
  try:
    page.get(url)
    wait_for_state(page, "ready", timeout)
    return element_pixels(page, element_id)
  finally:
    page.quit()
