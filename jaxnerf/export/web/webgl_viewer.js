"use strict";
// written by jaxnerf (export.py webgl)
// Ray-marches the baked block-sparse grid of scene.js (window.BAKED) in a
// WebGL 2 fragment shader: the same samples, trilinear lookups, colour
// basis (SH, or a FastNeRF cache's direction table, bilinear in theta and
// phi) and colour threshold as jaxnerf/baked/render.py.
(function () {
const S = window.BAKED;
const params = new URLSearchParams(location.search);
const canvas = document.getElementById("view");
const status = document.getElementById("status");
const width = parseInt(params.get("w") || S.width), height = parseInt(params.get("h") || S.height);
const focal = S.focal * width / S.width;
canvas.width = width; canvas.height = height;
const gl = canvas.getContext("webgl2", {preserveDrawingBuffer: true, antialias: false});
if (!gl) { status.textContent = "WebGL 2 is not available"; document.body.dataset.state = "error"; return; }

function bytes(b64) {
  const s = atob(b64), out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
function texture3d(unit, internal, format, type, size, data, filter) {
  const t = gl.createTexture();
  gl.activeTexture(gl.TEXTURE0 + unit);
  gl.bindTexture(gl.TEXTURE_3D, t);
  gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
  gl.texImage3D(gl.TEXTURE_3D, 0, internal, size[0], size[1], size[2], 0, format, type, data);
  for (const p of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER]) gl.texParameteri(gl.TEXTURE_3D, p, filter);
  for (const p of [gl.TEXTURE_WRAP_S, gl.TEXTURE_WRAP_T, gl.TEXTURE_WRAP_R]) gl.texParameteri(gl.TEXTURE_3D, p, gl.CLAMP_TO_EDGE);
  return t;
}
const g = S.grid_size, A = S.atlas_size, numSh = S.sh.length;
texture3d(0, gl.R32I, gl.RED_INTEGER, gl.INT, [g, g, g], new Int32Array(bytes(S.index).buffer), gl.NEAREST);
texture3d(1, gl.R16F, gl.RED, gl.HALF_FLOAT, A, new Uint16Array(bytes(S.density).buffer), gl.LINEAR);
for (let t = 0; t < numSh; t++) texture3d(2 + t, gl.RGBA8, gl.RGBA, gl.UNSIGNED_BYTE, A, bytes(S.sh[t]), gl.LINEAR);

const K = S.coefficients;
// A FastNeRF cache: the direction branch's K weights on a T x 2T grid of
// (theta, phi), 4 a texel, read at the 4 grid points around the view
// direction (texelFetch: the interpolation is the renderer's, in float32).
const numDir = S.direction_table ? S.direction_table.length : 0;
const dirUnit = 2 + numSh;
for (let t = 0; t < numDir; t++) {
  gl.activeTexture(gl.TEXTURE0 + dirUnit + t);
  gl.bindTexture(gl.TEXTURE_2D, gl.createTexture());
  gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
  gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA32F, 2 * S.direction_rows, S.direction_rows, 0, gl.RGBA, gl.FLOAT,
                new Float32Array(bytes(S.direction_table[t]).buffer));
  for (const p of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER]) gl.texParameteri(gl.TEXTURE_2D, p, gl.NEAREST);
}
const shUniforms = Array.from({length: numSh}, (_, t) => `uniform highp sampler3D sh${t};`).join("\n") +
  Array.from({length: numDir}, (_, t) => `\nuniform highp sampler2D dirTable${t};`).join("");
const dirLookup = Array.from({length: numDir}, (_, t) =>
  `{ vec4 v = (1.0 - fu) * ((1.0 - fv) * texelFetch(dirTable${t}, ivec2(j0, i0), 0) + fv * texelFetch(dirTable${t}, ivec2(j1, i0), 0)) +
       fu * ((1.0 - fv) * texelFetch(dirTable${t}, ivec2(j0, i0 + 1), 0) + fv * texelFetch(dirTable${t}, ivec2(j1, i0 + 1), 0));
     b[${4 * t}] = v.x; b[${4 * t + 1}] = v.y; b[${4 * t + 2}] = v.z; b[${4 * t + 3}] = v.w; }`).join("\n");
const basisOf = numDir ? `
  float theta = acos(clamp(viewdir.z, -1.0, 1.0)), phi = atan(viewdir.y, viewdir.x);
  const int ROWS = ${S.direction_rows || 2}, COLS = ${2 * (S.direction_rows || 2)};
  float du = theta / 3.141592653589793 * float(ROWS - 1), dv = (phi + 3.141592653589793) / 6.283185307179586 * float(COLS);
  int i0 = clamp(int(floor(du)), 0, ROWS - 2);
  float jf = floor(dv);
  float fu = du - float(i0), fv = dv - jf;
  int j0 = ((int(jf) % COLS) + COLS) % COLS, j1 = (j0 + 1) % COLS;
  float b[${4 * numDir}];
  ${dirLookup}
  for (int k = 0; k < ${K}; k++) basis[k] = b[k];` :
  `for (int k = 0; k < ${K}; k++) basis[k] = shBasis(k, viewdir);`;
const fetchSh = Array.from({length: numSh}, (_, t) =>
  `{ vec4 v = texture(sh${t}, tc) * shScale[${t}] + shOffset[${t}]; c[${4 * t}] = v.x; c[${4 * t + 1}] = v.y; c[${4 * t + 2}] = v.z; c[${4 * t + 3}] = v.w; }`).join("\n");
const fragment = `#version 300 es
precision highp float;
precision highp int;
precision highp isampler3D;
uniform isampler3D blockIndex;
uniform highp sampler3D density;
${shUniforms}
uniform vec4 shScale[${numSh}];
uniform vec4 shOffset[${numSh}];
uniform mat3 rotation;
uniform vec3 origin;
uniform vec2 size;
uniform float focal;
out vec4 colour;
const int G = ${g}, B = ${S.block_size}, R = ${S.resolution};
const vec3 LO = vec3(${S.lo.join(",")}), HI = vec3(${S.hi.join(",")});
const vec3 ATLAS = vec3(${A.join(",")});
const ivec3 LAYOUT = ivec3(${S.layout.join(",")});
const float BOUND = ${S.bound.toFixed(8)}, STEP = ${S.step.toFixed(10)};
const float NEAR = ${S.near.toFixed(6)}, FAR = ${S.far.toFixed(6)}, EPS = ${S.colour_eps};
float c[${4 * numSh}];
float shBasis(int k, vec3 d) {
  float x = d.x, y = d.y, z = d.z, xx = x * x, yy = y * y, zz = z * z;
  if (k == 0) return 0.28209479177387814;
  if (k == 1) return -0.4886025119029199 * y;
  if (k == 2) return 0.4886025119029199 * z;
  if (k == 3) return -0.4886025119029199 * x;
  if (k == 4) return 1.0925484305920792 * x * y;
  if (k == 5) return -1.0925484305920792 * y * z;
  if (k == 6) return 0.31539156525252005 * (2.0 * zz - xx - yy);
  if (k == 7) return -1.0925484305920792 * x * z;
  if (k == 8) return 0.5462742152960396 * (xx - yy);
  if (k == 9) return -0.5900435899266435 * y * (3.0 * xx - yy);
  if (k == 10) return 2.890611442640554 * x * y * z;
  if (k == 11) return -0.4570457994644658 * y * (4.0 * zz - xx - yy);
  if (k == 12) return 0.3731763325901154 * z * (2.0 * zz - 3.0 * xx - 3.0 * yy);
  if (k == 13) return -0.4570457994644658 * x * (4.0 * zz - xx - yy);
  if (k == 14) return 1.445305721320277 * z * (xx - yy);
  return -0.5900435899266435 * x * (xx - 3.0 * yy);
}
void main() {
  vec2 pixel = vec2(gl_FragCoord.x, size.y - gl_FragCoord.y);
  vec3 dir = rotation * vec3((pixel.x - 0.5 * size.x) / focal, -(pixel.y - 0.5 * size.y) / focal, -1.0);
  vec3 viewdir = normalize(dir);
  vec3 safe = vec3(abs(dir.x) < 1e-9 ? 1e-9 : dir.x, abs(dir.y) < 1e-9 ? 1e-9 : dir.y, abs(dir.z) < 1e-9 ? 1e-9 : dir.z);
  vec3 ta = (LO - origin) / safe, tb = (HI - origin) / safe;
  vec3 tmin = min(ta, tb), tmax = max(ta, tb);
  float t0 = max(max(max(tmin.x, tmin.y), tmin.z), NEAR);
  float t1 = min(min(min(tmax.x, tmax.y), tmax.z), FAR);
  float dt = STEP / length(dir);
  vec3 rgb = vec3(0.0);
  float T = 1.0;
  float basis[${K}];
  ${basisOf}
  int steps = t1 > t0 ? int(ceil((t1 - t0) / dt)) : 0;
  for (int i = 0; i < steps; i++) {
    float t = t0 + (float(i) + 0.5) * dt;
    if (t >= t1 || T < 1e-5) break;
    vec3 u = (origin + t * dir + BOUND) / (2.0 * BOUND) * float(R);
    if (any(lessThan(u, vec3(0.0))) || any(greaterThanEqual(u, vec3(float(R))))) continue;
    u = clamp(u, vec3(0.0), vec3(float(R) - 1e-4));
    ivec3 blk = ivec3(floor(u / float(B)));
    int id = texelFetch(blockIndex, blk, 0).r;
    if (id < 0) continue;
    vec3 local = u - vec3(blk * B);
    ivec3 cell = ivec3(id % LAYOUT.x, (id / LAYOUT.x) % LAYOUT.y, id / (LAYOUT.x * LAYOUT.y));
    vec3 tc = (vec3(cell * (B + 1)) + local + 0.5) / ATLAS;
    float sigma = max(texture(density, tc).r, 0.0);
    float alpha = 1.0 - exp(-sigma * STEP);
    float w = T * alpha;
    if (w > EPS) {
      ${fetchSh}
      vec3 raw = vec3(0.0);
      for (int k = 0; k < ${K}; k++) raw += vec3(c[k], c[${K} + k], c[${2 * K} + k]) * basis[k];
      rgb += w / (1.0 + exp(-raw));
    }
    T *= 1.0 - alpha;
  }
  ${S.white_bkgd ? "rgb += T;" : ""}
  colour = vec4(rgb, 1.0);
}`;
const vertex = `#version 300 es
in vec2 position;
void main() { gl_Position = vec4(position, 0.0, 1.0); }`;
function shader(type, source) {
  const s = gl.createShader(type);
  gl.shaderSource(s, source); gl.compileShader(s);
  if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
  return s;
}
const program = gl.createProgram();
gl.attachShader(program, shader(gl.VERTEX_SHADER, vertex));
gl.attachShader(program, shader(gl.FRAGMENT_SHADER, fragment));
gl.linkProgram(program);
if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(program));
gl.useProgram(program);
const buffer = gl.createBuffer();
gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
const loc = gl.getAttribLocation(program, "position");
gl.enableVertexAttribArray(loc);
gl.vertexAttribPointer(loc, 2, gl.FLOAT, false, 0, 0);
const u = name => gl.getUniformLocation(program, name);
gl.uniform1i(u("blockIndex"), 0);
gl.uniform1i(u("density"), 1);
for (let t = 0; t < numSh; t++) gl.uniform1i(u(`sh${t}`), 2 + t);
for (let t = 0; t < numDir; t++) gl.uniform1i(u(`dirTable${t}`), dirUnit + t);
gl.uniform4fv(u("shScale"), new Float32Array(S.sh_scale.map(x => x)));
gl.uniform4fv(u("shOffset"), new Float32Array(S.sh_offset));
gl.uniform2f(u("size"), width, height);
gl.uniform1f(u("focal"), focal);

// Camera: camera-to-world [3][4], orbit about the scene's up axis.
const view = params.get("view");
let pose = (view && S.views[view] ? S.views[view] : S.train_cameras[0]).map(r => r.slice());
let target = [0, 0, 0];
const up = (() => { const s = [0, 0, 0]; for (const c of S.train_cameras) for (let i = 0; i < 3; i++) s[i] += c[i][1]; const n = Math.hypot(...s); return s.map(x => x / n); })();
const col = j => [pose[0][j], pose[1][j], pose[2][j]];
function rotate(v, k, a) {
  const n = Math.hypot(...k); k = k.map(x => x / n);
  const cs = Math.cos(a), sn = Math.sin(a), d = k[0] * v[0] + k[1] * v[1] + k[2] * v[2];
  const x = [k[1] * v[2] - k[2] * v[1], k[2] * v[0] - k[0] * v[2], k[0] * v[1] - k[1] * v[0]];
  return [0, 1, 2].map(i => v[i] * cs + x[i] * sn + k[i] * d * (1 - cs));
}
function setPose(axes, p) { pose = [0, 1, 2].map(i => [axes[0][i], axes[1][i], axes[2][i], p[i]]); dirty = true; }
let dirty = true, frames = 0, since = performance.now();
function draw() {
  if (dirty) {
    dirty = false;
    gl.uniformMatrix3fv(u("rotation"), false, new Float32Array([0, 1, 2].flatMap(j => col(j))));
    gl.uniform3fv(u("origin"), new Float32Array(col(3)));
    gl.viewport(0, 0, width, height);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    gl.finish();
    frames++;
    const now = performance.now();
    if (now - since > 500) { status.textContent = `${width}x${height}, ${(1000 * frames / (now - since)).toFixed(1)} frames/s while moving`; frames = 0; since = now; }
    document.body.dataset.state = "ready";
  }
  requestAnimationFrame(draw);
}
let last = null, panning = false;
canvas.addEventListener("contextmenu", e => e.preventDefault());
canvas.addEventListener("mousedown", e => { last = [e.clientX, e.clientY]; panning = e.shiftKey || e.button === 2; });
window.addEventListener("mouseup", () => { last = null; });
window.addEventListener("mousemove", e => {
  if (!last) return;
  const dx = e.clientX - last[0], dy = e.clientY - last[1];
  last = [e.clientX, e.clientY];
  let axes = [0, 1, 2].map(col), p = col(3);
  if (panning) {
    const s = Math.hypot(...p.map((x, i) => x - target[i])) / focal;
    const move = [0, 1, 2].map(i => -dx * s * axes[0][i] + dy * s * axes[1][i]);
    target = target.map((x, i) => x + move[i]);
    return setPose(axes, p.map((x, i) => x + move[i]));
  }
  let rel = p.map((x, i) => x - target[i]);
  axes = axes.map(a => rotate(a, up, -dx * 0.01)); rel = rotate(rel, up, -dx * 0.01);
  axes = axes.map(a => rotate(a, axes[0], -dy * 0.01)); rel = rotate(rel, axes[0], -dy * 0.01);
  setPose(axes, rel.map((x, i) => x + target[i]));
});
canvas.addEventListener("wheel", e => {
  e.preventDefault();
  const p = col(3), f = Math.exp(e.deltaY * 0.001);
  setPose([0, 1, 2].map(col), p.map((x, i) => target[i] + (x - target[i]) * f));
});
requestAnimationFrame(draw);
})();
