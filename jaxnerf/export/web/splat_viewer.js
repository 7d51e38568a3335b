"use strict";
// written by jaxnerf (export.py webgl)
// Rasterises the Gaussians of scene.js (window.SPLATS) with WebGL 2 as
// jaxnerf/render/splatting.py does: a quad over each Gaussian's 3-sigma box
// (EWA projection, Jacobian clamp, low-pass and SH colour in the vertex
// shader), the 3-sigma ellipse and the 1/255 and 0.99 alpha cutoffs in the
// fragment shader, blended
// front to back in the depth order a counting sort gives on the CPU.
(function () {
const status = document.getElementById("status");
function fail(message) {
  status.textContent = message;
  document.body.dataset.state = "error";
}
try {
  main();
} catch (e) {
  fail("error: " + e.message);
}

function main() {
const S = window.SPLATS;
const params = new URLSearchParams(location.search);
const canvas = document.getElementById("view");
const names = Object.keys(S.views);
const view = S.views[params.get("view")] || S.views[names[0]];
const width = parseInt(params.get("w") || view.width), height = parseInt(params.get("h") || view.height);
// The start view's intrinsics, scaled to the canvas.
const sx = width / view.width, sy = height / view.height;
const fx = view.fx * sx, fy = view.fy * sy, cx = view.cx * sx, cy = view.cy * sy;
canvas.width = width; canvas.height = height;
const gl = canvas.getContext("webgl2", {preserveDrawingBuffer: true, antialias: false, alpha: true, premultipliedAlpha: true});
if (!gl) return fail("WebGL 2 is not available in this browser; the splats need it (try a recent Chrome, Firefox or Safari)");

function bytes(b64) {
  const s = atob(b64), out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
const N = S.count, W = S.texture_width, rows = Math.max(1, Math.ceil(N / W)), L = S.sh_layers;
if (rows > gl.getParameter(gl.MAX_TEXTURE_SIZE)) return fail(`${N} splats need textures ${rows} rows high; this GPU allows ${gl.getParameter(gl.MAX_TEXTURE_SIZE)}`);
const geometry = new Float32Array(bytes(S.geometry).buffer);
function textureArray(unit, internal, type, layers, data) {
  const t = gl.createTexture();
  gl.activeTexture(gl.TEXTURE0 + unit);
  gl.bindTexture(gl.TEXTURE_2D_ARRAY, t);
  gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
  gl.texImage3D(gl.TEXTURE_2D_ARRAY, 0, internal, W, rows, layers, 0, gl.RGBA, type, data);
  for (const p of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER]) gl.texParameteri(gl.TEXTURE_2D_ARRAY, p, gl.NEAREST);
  for (const p of [gl.TEXTURE_WRAP_S, gl.TEXTURE_WRAP_T]) gl.texParameteri(gl.TEXTURE_2D_ARRAY, p, gl.CLAMP_TO_EDGE);
}
textureArray(0, gl.RGBA32F, gl.FLOAT, 3, geometry);
textureArray(1, gl.RGBA16F, gl.HALF_FLOAT, L, new Uint16Array(bytes(S.sh).buffer));

// Real SH basis of jaxnerf.fields.encoding.spherical_harmonics (inria's).
const BASIS = [
  "0.28209479177387814", "-0.4886025119029199 * y", "0.4886025119029199 * z", "-0.4886025119029199 * x",
  "1.0925484305920792 * x * y", "-1.0925484305920792 * y * z", "0.31539156525252005 * (2.0 * zz - xx - yy)",
  "-1.0925484305920792 * x * z", "0.5462742152960396 * (xx - yy)",
  "-0.5900435899266435 * y * (3.0 * xx - yy)", "2.890611442640554 * x * y * z",
  "-0.4570457994644658 * y * (4.0 * zz - xx - yy)", "0.3731763325901154 * z * (2.0 * zz - 3.0 * xx - 3.0 * yy)",
  "-0.4570457994644658 * x * (4.0 * zz - xx - yy)", "1.445305721320277 * z * (xx - yy)",
  "-0.5900435899266435 * x * (xx - 3.0 * yy)"];
const K = (S.sh_degree + 1) * (S.sh_degree + 1);
const f = x => Number(x).toPrecision(9).replace(/^(-?\d+)$/, "$1.0");
const fetchSh = Array.from({length: L}, (_, l) =>
  `v = texelFetch(shTex, ivec3(at, ${l}), 0); c[${4 * l}] = v.x; c[${4 * l + 1}] = v.y; c[${4 * l + 2}] = v.z; c[${4 * l + 3}] = v.w;`).join("\n  ");
const sumSh = Array.from({length: K}, (_, k) =>
  `rgb += (${BASIS[k]}) * vec3(c[${3 * k}], c[${3 * k + 1}], c[${3 * k + 2}]);`).join("\n  ");
const vertex = `#version 300 es
precision highp float;
precision highp int;
precision highp sampler2DArray;
uniform sampler2DArray geometry;
uniform sampler2DArray shTex;
uniform mat3 rotation;
uniform vec3 origin;
uniform vec4 intrinsics;
uniform vec2 size;
in uint splat;
flat out vec2 centre;
flat out vec3 conic;
flat out vec3 colour;
flat out float opacity;
flat out float radius;
const float NEAR = ${f(S.near)}, LOW_PASS = ${f(S.low_pass)}, MIN_ALPHA = ${f(S.min_alpha)};
const bool ANTIALIAS = ${S.antialias ? "true" : "false"};
void main() {
  gl_Position = vec4(0.0, 0.0, 2.0, 1.0);  // culled: beyond the far plane
  ivec2 at = ivec2(int(splat % ${W}u), int(splat / ${W}u));
  vec4 g0 = texelFetch(geometry, ivec3(at, 0), 0);
  vec4 g1 = texelFetch(geometry, ivec3(at, 1), 0);
  vec4 g2 = texelFetch(geometry, ivec3(at, 2), 0);
  vec3 mean = g0.xyz;
  opacity = g0.w;
  mat3 cov = mat3(g1.x, g1.y, g1.z, g1.y, g1.w, g2.x, g1.z, g2.x, g2.y);
  vec3 local = (mean - origin) * rotation;  // R^T (m - o)
  float depth = -local.z;
  if (!(depth > NEAR) || opacity < MIN_ALPHA) return;
  float fx = intrinsics.x, fy = intrinsics.y;
  float limX = 1.3 * 0.5 * size.x / fx, limY = 1.3 * 0.5 * size.y / fy;
  float x = clamp(local.x / depth, -limX, limX) * depth;
  float y = clamp(local.y / depth, -limY, limY) * depth;
  float d2 = depth * depth;
  mat3x2 jac = mat3x2(fx / depth, 0.0, 0.0, -fy / depth, fx * x / d2, -fy * y / d2);
  mat3x2 t = jac * transpose(rotation);
  mat2 cov2 = t * cov * transpose(t);
  float a = cov2[0][0] + LOW_PASS, b = cov2[0][1], c2 = cov2[1][1] + LOW_PASS;
  float det = a * c2 - b * b;
  if (!(det > 0.0)) return;
  // Mip-Splatting's 2D filter keeps the Gaussian's integral (splatting.py).
  if (ANTIALIAS) opacity *= sqrt(clamp((cov2[0][0] * cov2[1][1] - b * b) / det, 1e-12, 1.0));
  conic = vec3(c2, -b, a) / det;
  float mid = 0.5 * (a + c2);
  radius = ceil(3.0 * sqrt(mid + sqrt(max(0.1, mid * mid - det))));
  centre = vec2(intrinsics.z + fx * local.x / depth, intrinsics.w - fy * local.y / depth);
  vec3 dir = normalize(mean - origin);
  float x1 = dir.x, y1 = dir.y, z1 = dir.z;
  float c[${4 * L}];
  vec4 v;
  ${fetchSh}
  vec3 rgb = vec3(0.0);
  {
  float x = x1, y = y1, z = z1, xx = x * x, yy = y * y, zz = z * z;
  ${sumSh}
  }
  colour = max(rgb + 0.5, 0.0);
  // One pixel beyond the box: the fragment shader applies the box test
  // exactly, also to pixel centres on its edge.
  vec2 corner = vec2(float(gl_VertexID & 1), float(gl_VertexID >> 1)) * 2.0 - 1.0;
  vec2 p = centre + corner * (radius + 1.0);
  gl_Position = vec4(2.0 * p.x / size.x - 1.0, 1.0 - 2.0 * p.y / size.y, 0.0, 1.0);
}`;
const fragment = `#version 300 es
precision highp float;
uniform vec2 size;
flat in vec2 centre;
flat in vec3 conic;
flat in vec3 colour;
flat in float opacity;
flat in float radius;
out vec4 result;
const float MAX_ALPHA = ${f(S.max_alpha)}, MIN_ALPHA = ${f(S.min_alpha)};
void main() {
  vec2 d = vec2(gl_FragCoord.x, size.y - gl_FragCoord.y) - centre;
  float power = -0.5 * (conic.x * d.x * d.x + conic.z * d.y * d.y) - conic.y * d.x * d.y;
  // The support: the 3-sigma ellipse (splatting.MAX_MAHALANOBIS).
  if (power > 0.0 || power < -0.5 * ${f(S.max_mahalanobis)}) discard;
  float alpha = min(MAX_ALPHA, opacity * exp(power));
  if (alpha < MIN_ALPHA) discard;
  result = vec4(colour * alpha, alpha);  // premultiplied
}`;
// The background goes under everything drawn: blended as one more splat
// of alpha 1 (8-bit framebuffer), or added by the pass that copies the
// float framebuffer to the canvas.
const bg = S.white_bkgd ? "1.0" : "0.0";
const fullScreen = `#version 300 es
in vec2 position;
void main() { gl_Position = vec4(position, 0.0, 1.0); }`;
const background = `#version 300 es
precision highp float;
out vec4 result;
void main() { result = vec4(vec3(${bg}), 1.0); }`;
const present = `#version 300 es
precision highp float;
uniform sampler2D accumulated;
out vec4 result;
void main() {
  vec4 s = texelFetch(accumulated, ivec2(gl_FragCoord.xy), 0);
  result = vec4(s.rgb + (1.0 - s.a) * ${bg}, 1.0);
}`;

function shader(type, source) {
  const s = gl.createShader(type);
  gl.shaderSource(s, source); gl.compileShader(s);
  if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
  return s;
}
function program(vs, fs) {
  const p = gl.createProgram();
  gl.attachShader(p, shader(gl.VERTEX_SHADER, vs));
  gl.attachShader(p, shader(gl.FRAGMENT_SHADER, fs));
  gl.bindAttribLocation(p, 0, "position");  // the full-screen programs'
  gl.linkProgram(p);
  if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(p));
  return p;
}
const splats = program(vertex, fragment), under = program(fullScreen, background);
const copy = program(fullScreen, present);
const u = name => gl.getUniformLocation(splats, name);
gl.useProgram(splats);
gl.uniform1i(u("geometry"), 0);
gl.uniform1i(u("shTex"), 1);
gl.uniform2f(u("size"), width, height);
gl.uniform4f(u("intrinsics"), fx, fy, cx, cy);

const splatVao = gl.createVertexArray();
gl.bindVertexArray(splatVao);
const orderBuffer = gl.createBuffer();
gl.bindBuffer(gl.ARRAY_BUFFER, orderBuffer);
gl.bufferData(gl.ARRAY_BUFFER, 4 * Math.max(N, 1), gl.DYNAMIC_DRAW);
const splatLoc = gl.getAttribLocation(splats, "splat");
gl.enableVertexAttribArray(splatLoc);
gl.vertexAttribIPointer(splatLoc, 1, gl.UNSIGNED_INT, 0, 0);
gl.vertexAttribDivisor(splatLoc, 1);
const underVao = gl.createVertexArray();
gl.bindVertexArray(underVao);
gl.bindBuffer(gl.ARRAY_BUFFER, gl.createBuffer());
gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 3, -1, -1, 3]), gl.STATIC_DRAW);
gl.enableVertexAttribArray(0);
gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
gl.bindVertexArray(null);

// Blending into the canvas's 8-bit framebuffer clamps every splat's
// premultiplied colour to 1 before it is added (trained colours exceed 1)
// and rounds the sums at each step; a half-float one still rounds them to
// 11 bits, which hundreds of faint overlapping splats feel. A float32
// framebuffer holds them where the GPU can render to and blend into one
// (EXT_color_buffer_float, EXT_float_blend), else half floats, else the
// canvas (?fb=16 and ?fb=8 ask for less, for comparison).
const asked = parseInt(params.get("fb") || "32");
let accumulate = null, framebuffer = "8-bit";
const floatTarget = asked > 8 && gl.getExtension("EXT_color_buffer_float");
const floatBlend = asked > 16 && floatTarget && gl.getExtension("EXT_float_blend");
if (floatTarget) {
  const texture = gl.createTexture();
  gl.activeTexture(gl.TEXTURE2);
  gl.bindTexture(gl.TEXTURE_2D, texture);
  gl.texStorage2D(gl.TEXTURE_2D, 1, floatBlend ? gl.RGBA32F : gl.RGBA16F, width, height);
  for (const p of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER]) gl.texParameteri(gl.TEXTURE_2D, p, gl.NEAREST);
  accumulate = gl.createFramebuffer();
  gl.bindFramebuffer(gl.FRAMEBUFFER, accumulate);
  gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, texture, 0);
  if (gl.checkFramebufferStatus(gl.FRAMEBUFFER) === gl.FRAMEBUFFER_COMPLETE) framebuffer = floatBlend ? "float32" : "half-float";
  else accumulate = null;
  gl.bindFramebuffer(gl.FRAMEBUFFER, null);
}
gl.useProgram(copy);
gl.uniform1i(gl.getUniformLocation(copy, "accumulated"), 2);

// Depth order, front first: a counting sort of 16-bit keys over the depth
// range in view (stable, so equal keys keep their index order).
const order = new Uint32Array(Math.max(N, 1)), keys = new Int32Array(N), counts = new Uint32Array(65536);
const depths = new Float64Array(N);
function sortSplats(forward, eye) {
  const base = forward[0] * eye[0] + forward[1] * eye[1] + forward[2] * eye[2];
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < N; i++) {
    const d = forward[0] * geometry[4 * i] + forward[1] * geometry[4 * i + 1] + forward[2] * geometry[4 * i + 2] - base;
    depths[i] = d;
    if (d > S.near) { if (d < lo) lo = d; if (d > hi) hi = d; }
  }
  const scale = hi > lo ? 65535 / (hi - lo) : 0;
  counts.fill(0);
  for (let i = 0; i < N; i++) {
    const d = depths[i];
    keys[i] = d > S.near ? Math.min(65535, Math.floor((d - lo) * scale)) : -1;
    if (keys[i] >= 0) counts[keys[i]]++;
  }
  let visible = 0;
  for (let k = 0; k < 65536; k++) { const c = counts[k]; counts[k] = visible; visible += c; }
  for (let i = 0; i < N; i++) if (keys[i] >= 0) order[counts[keys[i]]++] = i;
  return visible;
}

// Camera: camera-to-world [3][4], orbit about the scene's up axis (as the
// baked page).
let pose = view.c2w.map(r => r.slice());
let target = [0, 0, 0];
const up = S.up;
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
    const eye = col(3), back = col(2);
    const visible = sortSplats(back.map(x => -x), eye);
    gl.bindBuffer(gl.ARRAY_BUFFER, orderBuffer);
    gl.bufferSubData(gl.ARRAY_BUFFER, 0, order, 0, visible);
    gl.bindFramebuffer(gl.FRAMEBUFFER, accumulate);
    gl.viewport(0, 0, width, height);
    gl.disable(gl.DEPTH_TEST);
    gl.disable(gl.DITHER);  // rounding, as the reference's 8-bit image
    gl.clearColor(0, 0, 0, 0);
    gl.clear(gl.COLOR_BUFFER_BIT);
    // Front to back: C += (1 - A) a c, A += (1 - A) a.
    gl.enable(gl.BLEND);
    gl.blendFuncSeparate(gl.ONE_MINUS_DST_ALPHA, gl.ONE, gl.ONE_MINUS_DST_ALPHA, gl.ONE);
    gl.useProgram(splats);
    gl.uniformMatrix3fv(u("rotation"), false, new Float32Array([0, 1, 2].flatMap(j => col(j))));
    gl.uniform3fv(u("origin"), new Float32Array(eye));
    gl.bindVertexArray(splatVao);
    if (visible) gl.drawArraysInstanced(gl.TRIANGLE_STRIP, 0, 4, visible);
    gl.bindVertexArray(underVao);
    if (accumulate) {
      gl.bindFramebuffer(gl.FRAMEBUFFER, null);
      gl.disable(gl.BLEND);
      gl.useProgram(copy);
    } else {
      gl.useProgram(under);
    }
    gl.drawArrays(gl.TRIANGLES, 0, 3);
    gl.bindVertexArray(null);
    gl.finish();
    canvas.dataset.pose = JSON.stringify(pose);  // what the frame shows
    frames++;
    const now = performance.now();
    if (now - since > 500 || document.body.dataset.state !== "ready") {
      status.textContent = `${N} splats, ${width}x${height}, ${framebuffer} framebuffer, ${(1000 * frames / Math.max(now - since, 1)).toFixed(1)} frames/s while moving`;
      frames = 0; since = now;
    }
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
    const s = Math.hypot(...p.map((x, i) => x - target[i])) / fx;
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
  const p = col(3), k = Math.exp(e.deltaY * 0.001);
  setPose([0, 1, 2].map(col), p.map((x, i) => target[i] + (x - target[i]) * k));
});
requestAnimationFrame(draw);
}
})();
