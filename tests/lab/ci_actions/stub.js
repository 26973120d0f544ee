// Stand-ins for the GitHub actions that ci/github/drills.yml uses and that cannot be downloaded here
// (actions/cache, actions/upload-artifact, actions/upload-pages-artifact, actions/deploy-pages).
// act maps each onto its folder here (--local-repository actions/NAME@vN=tests/lab/ci_actions/NAME),
// so the workflow file runs unchanged; each folder's main.js loads this file from $DRILLKIT_ACT_STUBS
// (this folder: act copies only the action's own folder, and a job without checkout has no workspace).
// Each does the part of the real action that the workflow relies on, with a folder instead of
// GitHub's services: $DRILLKIT_ACT_STORE/cache/<key>/ (caches: the repository's, across runs),
// $DRILLKIT_ACT_STORE/runs/<run id>/artifacts/<name>/ and …/pages/ (a run's artifacts and the site
// deployed), which a test reads afterwards; $DRILLKIT_ACT_STORE/calls.jsonl records each call.
// Usage: node stub.js cache-restore|cache-save|cache-post|upload-artifact|upload-pages|deploy-pages
"use strict";
const fs = require("fs");
const path = require("path");

const mode = process.argv[2];
const input = (name) => (process.env[`INPUT_${name.replace(/ /g, "_").toUpperCase()}`] || "").trim();
const lines = (s) => s.split("\n").map((l) => l.trim()).filter(Boolean);
const store = process.env.DRILLKIT_ACT_STORE;
const ws = process.env.GITHUB_WORKSPACE || process.cwd();
const run = path.join(store || ".", "runs", process.env.GITHUB_RUN_ID || "0");   // artifacts belong to a run
const log = (msg) => console.log(`stub ${mode}: ${msg}`);
const fail = (msg) => { console.log(`::error::stub ${mode}: ${msg}`); process.exit(1); };
const output = (k, v) => { if (process.env.GITHUB_OUTPUT) fs.appendFileSync(process.env.GITHUB_OUTPUT, `${k}=${v}\n`); };
const state = (k, v) => { if (process.env.GITHUB_STATE) fs.appendFileSync(process.env.GITHUB_STATE, `${k}=${v}\n`); };
// a symlink stays a symlink (a cached .venv may be one); a folder merges into what is there (cp -a)
const copy = (from, to) => {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  if (fs.lstatSync(from).isSymbolicLink()) {
    fs.rmSync(to, { recursive: true, force: true });
    fs.symlinkSync(fs.readlinkSync(from), to);
  } else {
    require("child_process").execFileSync("cp", ["-aT", from, to], { stdio: "inherit" });
  }
};
const safe = (s) => s.replace(/[^\w.-]/g, "_");

if (!store) fail("DRILLKIT_ACT_STORE is not set (act --env DRILLKIT_ACT_STORE=DIR)");
fs.mkdirSync(store, { recursive: true });
fs.appendFileSync(path.join(store, "calls.jsonl"), JSON.stringify({
  mode, job: process.env.GITHUB_JOB, step: process.env.GITHUB_ACTION,
  inputs: Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("INPUT_"))),
}) + "\n");

function paths() {
  const ps = lines(input("path"));
  if (!ps.length) fail("input 'path' is empty");
  for (const p of ps) if (/[*?[]/.test(p)) fail(`path '${p}': globs are not supported by this stand-in`);
  return ps;
}

function restore() {
  const key = input("key"), prefixes = lines(input("restore-keys"));
  if (!key) fail("input 'key' is empty");
  const dir = path.join(store, "cache");
  const keys = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  let hit = keys.includes(safe(key)) ? safe(key) : null;
  const exact = !!hit;
  for (const p of prefixes) {     // like GitHub: the newest cache whose key starts with the prefix
    if (hit) break;
    const m = keys.filter((k) => k.startsWith(safe(p)))
      .sort((a, b) => fs.statSync(path.join(dir, b)).mtimeMs - fs.statSync(path.join(dir, a)).mtimeMs);
    if (m.length) hit = m[0];
  }
  state("CACHE_KEY", key); state("CACHE_PATHS", JSON.stringify(paths())); state("CACHE_EXACT", String(exact));
  output("cache-hit", String(exact)); output("cache-primary-key", key);
  if (!hit) { log(`no cache for ${key}`); return; }
  for (const p of paths()) { const from = path.join(dir, hit, p); if (fs.existsSync(from)) copy(from, path.join(ws, p)); }
  output("cache-matched-key", hit);
  log(`restored ${hit}${exact ? "" : ` for ${key}`}`);
}

function save(key, ps) {
  if (!key) fail("input 'key' is empty");
  const to = path.join(store, "cache", safe(key));
  if (fs.existsSync(to)) { log(`a cache ${key} exists: not saved again (GitHub caches are immutable)`); return; }
  let n = 0;
  for (const p of ps) { const from = path.join(ws, p); if (fs.existsSync(from)) { copy(from, path.join(to, p)); n++; } }
  if (!n) { log(`none of ${ps.join(", ")} exists: nothing saved`); return; }
  log(`saved ${n} path(s) as ${key}`);
}

// like upload-artifact: one folder becomes the artifact's root; several paths keep their relative paths
function upload(name, ps, ifNone) {
  const to = path.join(run, "artifacts", safe(name));
  fs.rmSync(to, { recursive: true, force: true });
  let n = 0;
  for (const p of ps) {
    const from = path.join(ws, p);
    if (!fs.existsSync(from)) continue;
    copy(from, ps.length === 1 && fs.statSync(from).isDirectory() ? to : path.join(to, p)); n++;
  }
  if (!n) {
    const msg = `no files found at ${ps.join(", ")}`;
    if (ifNone === "error") fail(msg);
    log(`warning: ${msg}`); return;
  }
  output("artifact-id", name); log(`uploaded ${ps.join(", ")} as ${name}`);
}

switch (mode) {
  case "cache-restore": restore(); break;
  case "cache-save": save(input("key"), paths()); break;
  case "cache-post": {    // the post step of actions/cache: save under the key unless it was an exact hit
    if (process.env.STATE_CACHE_EXACT === "true") { log("exact hit: not saved"); break; }
    save(process.env.STATE_CACHE_KEY, JSON.parse(process.env.STATE_CACHE_PATHS || "[]"));
    break;
  }
  case "upload-artifact": upload(input("name") || "artifact", paths(), input("if-no-files-found") || "warn"); break;
  case "upload-pages": {  // the real one tars the folder's content into the artifact github-pages
    const p = paths(); if (p.length !== 1) fail("one folder expected");
    if (!fs.existsSync(path.join(ws, p[0]))) fail(`${p[0]} does not exist`);
    upload(input("name") || "github-pages", p, "error"); break;
  }
  case "deploy-pages": {
    const from = path.join(run, "artifacts", safe(input("artifact_name") || "github-pages"));
    if (!fs.existsSync(from)) fail("no artifact github-pages in this run: the drills job uploaded none");
    copy(from, path.join(run, "pages"));
    output("page_url", `file://${path.join(run, "pages")}/`); log(`deployed to ${path.join(run, "pages")}`);
    break;
  }
  default: fail(`unknown mode ${mode}`);
}
