"""Headless Chromium for the viewer tests (Debian's chromium and
chromium-driver; installed with apt-get when missing, never downloaded by
the tests themselves)."""

import io
import shutil
import subprocess
import time

import imageio.v3 as iio
import numpy as np


def executables() -> tuple[str, str]:
  """(chromium, chromedriver) paths; apt-get installs them if missing."""
  found = shutil.which("chromium"), shutil.which("chromedriver")
  if not all(found):
    subprocess.run(["apt-get", "update", "-qq"], check=False,
                   capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium",
                    "chromium-driver"], check=True, capture_output=True)
    found = shutil.which("chromium"), shutil.which("chromedriver")
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
