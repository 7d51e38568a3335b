"""The viewer's server (jaxnerf/export/viewer.py) without a trained run:
the light a request places reaches the rendered cameras."""

import threading
import urllib.error
import urllib.request

import numpy as np
import pytest

from jaxnerf.core import lighting
from jaxnerf.export import viewer

INFO = dict(width=4, height=3, focal=5.0, near=0.5, far=6.0, up=[0, 0, 1],
            train_cameras=[], views={})
C2W = ",".join(str(x) for x in np.eye(4)[:3].reshape(-1))


@pytest.fixture
def serve():
  """serve(relightable) -> (GET(query) -> (status, body), the Cameras each
  render was asked for)."""
  servers, seen = [], []

  def render_camera(cams, i):
    seen.append(cams)
    h, w = int(cams.height[i]), int(cams.width[i])
    return {"rgb": np.full((h, w, 3), 0.5), "depth": np.ones((h, w)),
            "acc": np.ones((h, w))}

  def start(relightable):
    handler = viewer.make_handler(
        dict(INFO, light=relightable), render_camera,
        {"rgb": "rgb", "depth": "depth", "acc": "opacity"}, 40.0)
    server = viewer.bind("127.0.0.1", 0, handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    servers.append(server)
    port = server.server_address[1]

    def get(query):
      url = f"http://127.0.0.1:{port}/render?w=4&h=3&f=5&c2w={C2W}{query}"
      try:
        with urllib.request.urlopen(url) as r:
          return r.status, r.read()
      except urllib.error.HTTPError as e:
        return e.code, e.read()
    return get, seen

  yield start
  for server in servers:
    server.shutdown()
    server.server_close()


def test_a_placed_light_reaches_the_cameras(serve):
  get, seen = serve(True)
  status, body = get("&light=1,2,3.5")
  assert status == 200 and body[:4] == b"\x89PNG"
  want = lighting.point_light([1.0, 2.0, 3.5], 40.0)
  np.testing.assert_array_equal(seen[-1].light, want[None])
  assert not lighting.collocated(seen[-1].light)[0]
  # Without one: the data's absence of a light (the model's flash).
  assert get("")[0] == 200
  assert seen[-1].light.shape == (1, lighting.NONE_DIM)


@pytest.mark.parametrize("relightable,query,message", [
    (False, "&light=1,2,3", b"takes no light"),
    (True, "&light=1,2", b"3 finite numbers"),
    (True, "&light=1,nan,2", b"3 finite numbers"),
    (True, "&light=a,b,c", b"bad request"),
])
def test_bad_lights_are_refused(serve, relightable, query, message):
  get, seen = serve(relightable)
  status, body = get(query)
  assert status == 400 and message in body
  assert not seen
