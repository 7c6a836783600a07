"""Helper for scripts/otlp_phoenix_check.sh: does a real OTLP receiver (Phoenix) get our traces?

Two commands:

  serve   Start `phoenix serve` (run it with the Phoenix venv's Python). Phoenix binds its OTLP/gRPC
          port to every interface ("[::]:PORT", hard-coded in phoenix.server.grpc_server); this
          rewrites that bind to $PHOENIX_HOST so everything stays on loopback.
  check   Run stepladder flows with OTEL_EXPORTER_OTLP_ENDPOINT pointing at Phoenix, then ask
          Phoenix's REST API (GET /v1/projects/{project}/spans?trace_id=...) for each run's trace
          and assert it arrived whole: the root `run <flow>` span, `node <id>` children carrying
          `stepladder.*` attributes, every span the local JSONL store holds for the trace, and,
          for a run marked llm, a model-call span with `gen_ai.request.model` and token counts
          (its OTel kind, CLIENT, is checked in the JSONL store: Phoenix does not keep OTel span
          kinds), `gen_ai.provider.name`, `gen_ai.response.model`, the array
          `gen_ai.response.finish_reasons`, and, as an llm run is made with content capture on
          (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true), `gen_ai.input.messages` and
          `gen_ai.output.messages` in the GenAI conventions' JSON (role, parts of type text,
          finish_reason). Standard library only, so any Python 3.10+ runs it.

The last line `check` prints is one JSON object:
  {"check": "otlp_phoenix", "ok": true, "spans": N, "traces": [...], "phoenix": "x.y.z", ...}
Exit codes: 0 ok, 1 a trace did not arrive (or arrived incomplete), 2 a required run failed.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

TRACE_LINE = re.compile(r"trace", re.IGNORECASE)
TRACE_ID = re.compile(r"\b([0-9a-f]{32})\b")
TOKEN_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens")
GENAI_KEYS = ("gen_ai.provider.name", "gen_ai.response.model")
MESSAGE_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages")
CAPTURE_VARIABLE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


# --------------------------------------------------------------------------------------- serve


def serve(_: argparse.Namespace) -> int:
    """Run `phoenix serve` with its OTLP/gRPC port bound to $PHOENIX_HOST only."""
    host = os.environ.get("PHOENIX_HOST", "127.0.0.1")
    import grpc.aio._server as grpc_server  # the Phoenix venv has grpcio

    for method in ("add_insecure_port", "add_secure_port"):
        original = getattr(grpc_server.Server, method)

        def bound(self: Any, address: str, *args: Any, _original: Any = original) -> Any:
            if address.startswith("[::]:"):
                address = f"{host}:{address.rsplit(':', 1)[1]}"
            return _original(self, address, *args)

        setattr(grpc_server.Server, method, bound)

    from phoenix.server.main import main

    sys.argv = ["phoenix", "serve"]
    return main() or 0


# --------------------------------------------------------------------------------------- check


def http_json(url: str, timeout: float = 10.0) -> Any:
    """GET a JSON document, bypassing any proxy."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    with opener.open(url, timeout=timeout) as response:
        return json.loads(response.read().decode())


def http_text(url: str, timeout: float = 10.0) -> str:
    """GET a text document, bypassing any proxy."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as response:
        return response.read().decode().strip()


def jsonl_spans(folder: Path) -> list[dict[str, Any]]:
    """Every span in the local store (spans-*.jsonl, or any *.jsonl), skipping torn lines."""
    spans: list[dict[str, Any]] = []
    for path in sorted(glob.glob(str(folder / "*.jsonl"))):
        try:
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    if isinstance(record, dict) and "trace_id" in record:
                        spans.append(record)
        except OSError:
            continue
    return spans


def trace_id_from_stderr(stderr: str) -> str | None:
    """The 32-hex trace id on the first stderr line that mentions a trace."""
    for line in stderr.splitlines():
        if TRACE_LINE.search(line):
            found = TRACE_ID.search(line.lower())
            if found:
                return found.group(1)
    return None


def trace_id_from_store(folder: Path, flow: str, before: set[str]) -> str | None:
    """The newest `run <flow>` root span's trace id in the JSONL store not in `before`."""
    roots = [
        s
        for s in jsonl_spans(folder)
        if s.get("name") == f"run {flow}" and not s.get("parent_id") and s["trace_id"] not in before
    ]
    if not roots:
        return None
    return max(roots, key=lambda s: s.get("start_ns") or 0)["trace_id"]


def otlp_env(protocol: str, http_port: int, grpc_port: int) -> dict[str, str]:
    """This environment with the OTLP variables set for Phoenix (and no others)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("OTEL_EXPORTER_OTLP_") or k.startswith("OTEL_TRACES_EXPORTER"))
    }
    port = grpc_port if protocol == "grpc" else http_port
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{port}"
    env["OTEL_EXPORTER_OTLP_PROTOCOL"] = protocol
    if protocol == "grpc":
        env["OTEL_EXPORTER_OTLP_INSECURE"] = "true"
    no_proxy = ",".join(x for x in (env.get("NO_PROXY"), "127.0.0.1,localhost") if x)
    env["NO_PROXY"] = env["no_proxy"] = no_proxy
    return env


def phoenix_spans(url: str, trace_id: str) -> tuple[str | None, str | None, list[dict[str, Any]]]:
    """(project name, project global id, spans) for a trace, looking in every project."""
    projects = http_json(f"{url}/v1/projects?limit=100").get("data", [])
    for project in projects:
        name = urllib.parse.quote(project["name"], safe="")
        query = urllib.parse.urlencode({"trace_id": trace_id, "limit": 1000})
        spans = http_json(f"{url}/v1/projects/{name}/spans?{query}").get("data", [])
        if spans:
            return project["name"], project["id"], spans
    return None, None, []


def verify(
    run: dict[str, Any], spans: list[dict[str, Any]], local: list[dict[str, Any]]
) -> list[str]:
    """What is wrong with the trace Phoenix holds (empty: nothing)."""
    problems: list[str] = []
    flow = run["flow"]
    ids = {s["context"]["span_id"] for s in spans}
    roots = [s for s in spans if s["name"] == f"run {flow}" and not s.get("parent_id")]
    if len(roots) != 1:
        problems.append(f"expected one root span 'run {flow}', found {len(roots)}")
    orphans = [s["name"] for s in spans if s.get("parent_id") and s["parent_id"] not in ids]
    if orphans:
        problems.append(f"spans whose parent did not arrive: {orphans}")
    nodes = [s for s in spans if s["name"].startswith("node ")]
    if not nodes:
        problems.append("no 'node <id>' spans")
    for node in nodes:
        if not any(k.startswith("stepladder.") for k in node.get("attributes", {})):
            problems.append(f"{node['name']!r} has no stepladder.* attribute")
    if local:
        local_ids = {s["span_id"] for s in local}
        if local_ids - ids:
            missing = sorted(s["name"] for s in local if s["span_id"] not in ids)
            problems.append(f"in the JSONL store but not in Phoenix: {missing}")
        if ids - local_ids:
            problems.append(f"{len(ids - local_ids)} spans in Phoenix not in the JSONL store")
    if run["llm"]:
        calls = [s for s in spans if "gen_ai.request.model" in s.get("attributes", {})]
        if not calls:
            problems.append("no span with gen_ai.request.model")
        for call in calls:
            attrs = call["attributes"]
            absent = [k for k in TOKEN_KEYS if not isinstance(attrs.get(k), int)]
            if absent:
                problems.append(f"{call['name']!r} lacks token counts {absent}")
            problems.extend(genai_problems(call["name"], attrs))
        kinds = {s["span_id"]: s.get("kind") for s in local}
        for call in calls:
            kind = kinds.get(call["context"]["span_id"])
            if local and kind != "CLIENT":
                problems.append(f"{call['name']!r} has kind {kind} in the JSONL store, not CLIENT")
    return problems


def genai_problems(name: str, attrs: dict[str, Any]) -> list[str]:
    """What a model-call span lacks of the GenAI conventions (content capture on)."""
    problems = [f"{name!r} lacks {k}" for k in GENAI_KEYS if not isinstance(attrs.get(k), str)]
    reasons = attrs.get("gen_ai.response.finish_reasons")
    if not (isinstance(reasons, list) and reasons and all(isinstance(r, str) for r in reasons)):
        problems.append(f"{name!r}: gen_ai.response.finish_reasons is not an array ({reasons!r})")
    for key in MESSAGE_KEYS:
        try:
            messages = json.loads(attrs.get(key) or "")
        except (TypeError, ValueError):
            problems.append(f"{name!r}: {key} is missing or not JSON")
            continue
        shaped = isinstance(messages, list) and messages and all(
            isinstance(m, dict) and isinstance(m.get("role"), str)
            and any(p.get("type") == "text" and isinstance(p.get("content"), str)
                    for p in m.get("parts") or [])
            for m in messages
        )  # fmt: skip
        if not shaped:
            problems.append(f"{name!r}: {key} is not a list of messages with text parts")
        if key == "gen_ai.output.messages" and shaped and "finish_reason" not in messages[0]:
            problems.append(f"{name!r}: gen_ai.output.messages has no finish_reason")
    return problems


def describe(run: dict[str, Any], spans: list[dict[str, Any]]) -> None:
    """Print the trace as a tree with a few attributes per span."""
    print(f"\n== {run['flow']} over {run['protocol']}: trace {run['trace_id']}")
    print(f"   project {run.get('project')!r}, {len(spans)} spans in Phoenix")
    by_id = {s["context"]["span_id"]: s for s in spans}

    def depth(span: dict[str, Any]) -> int:
        d, parent = 0, span.get("parent_id")
        while parent in by_id and d < 50:
            d, parent = d + 1, by_id[parent].get("parent_id")
        return d

    for span in sorted(spans, key=lambda s: s["start_time"]):
        attrs = span.get("attributes", {})
        shown = {
            k: v
            for k, v in attrs.items()
            if k.startswith(("stepladder.", "gen_ai.", "llm.token_count", "llm.model_name"))
            and not k.endswith((".input", ".output", "preview"))
            and len(str(v)) <= 60
        }
        shown = dict(sorted(shown.items(), key=lambda kv: not kv[0].startswith("stepladder."))[:6])
        print(
            f"   {'  ' * depth(span)}- {span['name']} [{span['span_kind']}, {span['status_code']}]"
            f" {json.dumps(shown, default=str) if shown else ''}"
        )


def find_browser() -> str | None:
    """A Chromium executable, if one is installed."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


BROWSER_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--hide-scrollbars",
    "--window-size=1600,1000",
]  # fmt: skip


def screenshot(url: str, path: Path, wait_for: list[str], timeout: float) -> str:
    """A PNG of `url` once its text shows every string in `wait_for`.

    Drives headless Chromium over the DevTools protocol with the `websockets` package that
    Phoenix's venv has; without it, falls back to `chromium --screenshot` after a fixed wait.
    """
    browser = find_browser()
    if browser is None:
        return "skipped: no chromium"
    path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    with tempfile.TemporaryDirectory(prefix="phoenix-chromium-") as profile:
        flags = [browser, *BROWSER_FLAGS, f"--user-data-dir={profile}"]
        try:
            from websockets.sync.client import connect
        except ImportError:
            command = [*flags, "--virtual-time-budget=15000", f"--screenshot={path}", url]
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
            except subprocess.TimeoutExpired:
                return "failed: chromium timed out"
            if done.returncode != 0 or not path.exists():
                return f"failed: chromium exited {done.returncode}: {done.stderr.strip()[-300:]}"
            return f"{path} (no websockets: shot after a fixed wait, may not show the trace)"

        process = subprocess.Popen(
            [*flags, "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        try:
            return _cdp_shot(process, connect, url, path, wait_for, timeout)
        except Exception as error:  # a screenshot is a nicety: report, never fail the check
            return f"failed: {type(error).__name__}: {error}"
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def _cdp_shot(
    process: subprocess.Popen[str], connect: Any, url: str, path: Path, wait_for: list[str],
    timeout: float,
) -> str:  # fmt: skip
    import base64

    assert process.stderr is not None
    debugger = None
    deadline = time.monotonic() + 30
    while debugger is None and time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            raise RuntimeError(f"chromium exited {process.returncode}")
        found = re.search(r"DevTools listening on (ws://\S+)", line)
        if found:
            debugger = found.group(1)
    if debugger is None:
        raise RuntimeError("chromium printed no DevTools address")
    import threading  # keep draining chromium's chatter so it never blocks on a full pipe

    threading.Thread(target=process.stderr.read, daemon=True).start()
    port = urllib.parse.urlparse(debugger).port
    pages = [t for t in http_json(f"http://127.0.0.1:{port}/json/list") if t["type"] == "page"]
    counter = iter(range(1, 1_000_000))
    with connect(pages[0]["webSocketDebuggerUrl"], max_size=None, proxy=None) as socket:

        def call(method: str, **params: Any) -> Any:
            ident = next(counter)
            socket.send(json.dumps({"id": ident, "method": method, "params": params}))
            while True:
                message = json.loads(socket.recv(timeout=60))
                if message.get("id") == ident:
                    if "error" in message:
                        raise RuntimeError(f"{method}: {message['error']}")
                    return message.get("result", {})

        def shows(texts: list[str]) -> bool:
            test = " && ".join(f"document.body.innerText.includes({json.dumps(t)})" for t in texts)
            result = call("Runtime.evaluate", expression=f"!!document.body && {test or 'true'}")
            return result.get("result", {}).get("value") is True

        call("Page.enable")
        call(
            "Emulation.setDeviceMetricsOverride",
            width=1600,
            height=1000,
            deviceScaleFactor=1,
            mobile=False,
        )
        call("Page.navigate", url=url)
        until = time.monotonic() + timeout
        first, then = wait_for[:2], wait_for[2:]
        ready = False
        while time.monotonic() < until:
            if shows(wait_for):
                ready = True
                break
            if then and shows(first):
                # The selected span opens on its Info tab; its attributes are on the next tab.
                call(
                    "Runtime.evaluate",
                    expression="[...document.querySelectorAll('[role=tab]')]"
                    ".find(t => t.innerText.trim().startsWith('Attributes'))?.click()",
                )
            time.sleep(0.5)
        time.sleep(1.5)  # let the last fetches paint
        shot = call("Page.captureScreenshot", format="png")
    path.write_bytes(base64.b64decode(shot["data"]))
    return str(path) if ready else f"{path} (the page never showed {wait_for}; shot anyway)"


def parse_run(text: str) -> dict[str, Any]:
    """FLOW:INPUT_FILE[:PROTOCOL[:llm]] (protocol: http/protobuf or grpc)."""
    parts = text.split(":")
    if len(parts) < 2:
        raise argparse.ArgumentTypeError(f"expected FLOW:INPUT[:PROTOCOL[:llm]], got {text!r}")
    protocol = parts[2] if len(parts) > 2 and parts[2] else "http/protobuf"
    if protocol not in ("http/protobuf", "grpc"):
        raise argparse.ArgumentTypeError(f"protocol must be http/protobuf or grpc: {text!r}")
    llm = len(parts) > 3 and parts[3] in ("llm", "llm?")
    return {
        "flow": parts[0],
        "input": parts[1],
        "protocol": protocol,
        "llm": llm,
        "optional": len(parts) > 3 and parts[3].endswith("?"),
    }


def check(args: argparse.Namespace) -> int:
    """Run the flows, check Phoenix got each trace whole, print the report and JSON line."""
    url = args.url.rstrip("/")
    examples = Path(args.examples).resolve()
    store = Path(args.traces_dir) if args.traces_dir else examples / ".stepladder" / "traces"
    stepladder = str(Path(args.stepladder).resolve()) if "/" in args.stepladder else args.stepladder
    version = http_text(f"{url}/arize_phoenix_version")
    grpc = f"127.0.0.1:{args.grpc_port}"
    print(f"Phoenix {version} at {url} (OTLP/HTTP {url}/v1/traces, OTLP/gRPC {grpc})")
    results: list[dict[str, Any]] = []
    exit_code = 0
    shot_target: dict[str, Any] | None = None

    for run in args.run:
        print(
            f"\n$ cd {examples} && stepladder run {run['flow']} --input @{run['input']}"
            f"   # OTEL_EXPORTER_OTLP_PROTOCOL={run['protocol']}",
            flush=True,
        )
        before = {s["trace_id"] for s in jsonl_spans(store)}
        env = otlp_env(run["protocol"], args.http_port, args.grpc_port)
        if run["llm"]:  # model spans then carry the messages too (the GenAI opt-in)
            env[CAPTURE_VARIABLE] = "true"
        started = time.monotonic()
        try:
            done = subprocess.run(
                [stepladder, "run", run["flow"], "--input", f"@{run['input']}"],
                cwd=examples, env=env, capture_output=True, text=True, timeout=args.run_timeout,
            )  # fmt: skip
            rc, stderr = done.returncode, done.stderr
        except OSError as error:
            rc, stderr = 127, f"could not start {stepladder}: {error}"
        except subprocess.TimeoutExpired as error:
            rc, partial = 124, error.stderr
            stderr = partial.decode(errors="replace") if isinstance(partial, bytes) else ""
        run["seconds"] = round(time.monotonic() - started, 1)
        run["rc"] = rc
        tail = "\n".join(stderr.strip().splitlines()[-8:])
        if tail:
            print("   stderr: " + tail.replace("\n", "\n           "))
        if rc != 0:
            run["ok"] = False
            run["error"] = f"stepladder exited {rc}"
            if run["optional"]:
                run["skipped"] = True
                print(f"   run failed (rc {rc}); optional, so skipped")
            else:
                print(f"   run failed (rc {rc})")
                exit_code = max(exit_code, 2)
            results.append(run)
            continue

        trace_id = trace_id_from_stderr(stderr)
        run["trace_id_from"] = "stderr"
        if trace_id is None:
            trace_id = trace_id_from_store(store, run["flow"], before)
            run["trace_id_from"] = "jsonl"
        if trace_id is None:
            run.update(ok=False, error="no trace id on stderr nor a new root span in " + str(store))
            print("   " + run["error"])
            exit_code = max(exit_code, 1)
            results.append(run)
            continue
        run["trace_id"] = trace_id
        local = [s for s in jsonl_spans(store) if s["trace_id"] == trace_id]

        deadline = time.monotonic() + args.wait
        problems: list[str] = ["nothing arrived"]
        spans: list[dict[str, Any]] = []
        while True:
            try:
                project, project_id, spans = phoenix_spans(url, trace_id)
            except (urllib.error.URLError, OSError, ValueError) as error:
                project, project_id, spans = None, None, []
                problems = [f"Phoenix API error: {error}"]
            if spans:
                problems = verify(run, spans, local)
                if not problems:
                    break
            if time.monotonic() > deadline:
                break
            time.sleep(1)
        run.update(project=project, project_id=project_id, spans=len(spans), jsonl_spans=len(local))
        if spans:
            describe(run, spans)
            names: dict[str, int] = {}
            for span in spans:
                key = span["name"].split(" ")[0]
                names[key] = names.get(key, 0) + 1
            run["span_names"] = names
            calls = [s for s in spans if "gen_ai.request.model" in s.get("attributes", {})]
            if calls:
                run["llm_span_id"] = calls[0]["id"]
                a = calls[0]["attributes"]
                run["llm_call"] = {
                    "name": calls[0]["name"],
                    "phoenix_span_kind": calls[0]["span_kind"],
                    **{k: a.get(k) for k in ("gen_ai.request.model", *TOKEN_KEYS, *GENAI_KEYS)},
                    "gen_ai.response.finish_reasons": a.get("gen_ai.response.finish_reasons"),
                    **{k: len(a.get(k) or "") for k in MESSAGE_KEYS},
                    "llm.token_count.total": a.get("llm.token_count.total"),
                }
        if not local:
            run["warning"] = (
                f"the JSONL store {store} has no spans for this trace: completeness "
                "and the CLIENT kind were not cross-checked"
            )
            print("   warning: " + run["warning"])
        run["ok"] = not problems
        if problems:
            run["problems"] = problems
            print("   NOT OK: " + "; ".join(problems))
            exit_code = max(exit_code, 1)
        else:
            print(
                f"   ok: all {len(spans)} spans arrived"
                + (f" (the JSONL store has the same {len(local)})" if local else "")
            )
            if shot_target is None or run["llm"]:
                shot_target = run
        results.append(run)

    shot = None
    if args.screenshot and shot_target is not None:
        page = f"{url}/projects/{shot_target['project_id']}/traces/{shot_target['trace_id']}"
        wait_for = [shot_target["trace_id"], f"run {shot_target['flow']}"]
        if shot_target.get("llm_span_id"):  # open the model call's span: model, tokens
            page += "?selectedSpanNodeId=" + urllib.parse.quote(shot_target["llm_span_id"])
            wait_for.append("gen_ai.request.model")
        shot = screenshot(page, Path(args.screenshot), wait_for, args.screenshot_wait)
        print(f"\nscreenshot of {page}: {shot}")

    checked = [r for r in results if not r.get("skipped")]
    ok = exit_code == 0 and any(r.get("ok") for r in checked)
    if exit_code == 0 and not ok:
        exit_code = 1
    keep = ("flow", "protocol", "ok", "skipped", "trace_id", "trace_id_from", "spans",
            "jsonl_spans", "span_names", "llm_call", "problems", "warning", "error", "rc",
            "seconds")  # fmt: skip
    summary = {
        "check": "otlp_phoenix",
        "ok": ok,
        "spans": sum(r.get("spans", 0) for r in checked),
        "traces": [{k: r[k] for k in keep if k in r} for r in results],
        "phoenix": version,
        "screenshot": shot,
    }
    print(json.dumps(summary))
    return exit_code


def main() -> int:
    """Parse the command line and run a command."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run phoenix serve, gRPC bound to $PHOENIX_HOST").set_defaults(
        func=serve
    )
    c = sub.add_parser("check", help="run flows with OTLP on and check Phoenix got them")
    c.add_argument("--url", required=True, help="Phoenix base URL, e.g. http://127.0.0.1:6006")
    c.add_argument("--http-port", type=int, required=True, help="Phoenix HTTP (UI + OTLP) port")
    c.add_argument("--grpc-port", type=int, required=True, help="Phoenix OTLP/gRPC port")
    c.add_argument("--examples", required=True, help="folder to run stepladder in")
    c.add_argument("--stepladder", required=True, help="the stepladder executable")
    c.add_argument("--traces-dir", help="JSONL span store (default EXAMPLES/.stepladder/traces)")
    c.add_argument(
        "--run", type=parse_run, action="append", required=True,
        help="FLOW:INPUT[:PROTOCOL[:llm|llm?]]; llm? = an LLM run skipped if stepladder fails",
    )  # fmt: skip
    c.add_argument("--wait", type=float, default=30, help="seconds to wait for spans to arrive")
    c.add_argument("--run-timeout", type=float, default=600, help="seconds per stepladder run")
    c.add_argument("--screenshot", help="PNG path for a headless-chromium shot of the trace")
    c.add_argument("--screenshot-wait", type=float, default=90, help="seconds, at most")
    c.set_defaults(func=check)
    args = parser.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
