#!/usr/bin/env python3
"""Writes the hand-made seed inputs of every fuzz target into fuzz/corpus/<target>/.

Seeds are named seed-*; libFuzzer adds its own finds (hash-named) next to them. Run from
anywhere: `python3 fuzz/seeds/make_seeds.py`.
"""
import json
import os
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def j(v):
    return json.dumps(v, separators=(", ", ": "))


# ---- journal_reader: JSON lines `CRC32HEX {"seq":N,"payload":...}`
def line(seq, payload):
    body = json.dumps({"seq": seq, "payload": payload}, separators=(",", ":"))
    return "%08x %s\n" % (zlib.crc32(body.encode()) & 0xFFFFFFFF, body)


payloads = [
    {"at": 0, "input": {"kind": "start"}},
    {"at": 1500, "input": {"kind": "observed", "fleet": {"stable": 3, "candidate": 1}}},
    {"at": 3000, "input": {"kind": "gate", "name": "approval", "verdict": "pass"}},
]
good = "".join(line(i, p) for i, p in enumerate(payloads))
put("journal_reader", "empty", "")
put("journal_reader", "three-entries", good)
put("journal_reader", "torn-tail", good + line(3, {"x": 1})[:-7])
put("journal_reader", "bad-checksum-middle", line(0, 1) + "00000000" + line(1, 2)[8:] + line(2, 3))
put("journal_reader", "bad-utf8-middle", line(0, 1).encode() + b"\xff\xfe\n" + line(1, 2).encode())
put("journal_reader", "wrong-seq", line(0, 1) + line(5, 2))
put("journal_reader", "no-newline", line(0, {"a": [1, 2, 3]}).rstrip("\n"))

# ---- plan_json: a Plan, and a RolloutSpec holding one
analysis = {"validators": ["errors", "latency"],
            "policy": {"interval": "1m", "count": 5, "failure_limit": 1,
                       "initial_delay": "30s", "on_inconclusive": "fail"}}
canary_plan = {"strategy": "canary", "replicas": 4, "steps": [
    {"step": "scale", "role": "candidate", "replicas": 1},
    {"step": "set_weight", "percent": 10},
    dict({"step": "analysis"}, **analysis),
    {"step": "pause", "duration": "5m"},
    {"step": "pause"},
    {"step": "gate", "gates": ["approval"]},
    {"step": "set_flag", "flag": "new-checkout", "percent": 50},
    {"step": "promote"},
    {"step": "retire", "role": "stable", "after": "1h30m"},
]}
put("plan_json", "canary-plan", j(canary_plan))
put("plan_json", "recreate-plan", j({"strategy": "recreate", "replicas": 3, "steps": [
    {"step": "scale", "role": "stable", "replicas": 0},
    {"step": "scale", "role": "candidate", "replicas": 3},
    {"step": "retire", "role": "stable"}]}))
spec = {"id": "r1", "target": {"service": "web", "environment": "production", "namespace": "shop"},
        "stable": {"id": "web-v1", "version": "1.0.0", "artifact": "web:1.0.0"},
        "candidate": {"id": "web-v2", "version": "2.0.0-rc.1+build.5", "artifact": "web:2.0.0"},
        "plan": canary_plan, "gates": ["window", "lock"],
        "background_analysis": analysis, "health_validators": ["health"],
        "progress_deadline": "10m", "failure_policy": "rollback", "poll_interval": "2s",
        "retry": {"max_attempts": 5, "initial_backoff": "1s", "max_backoff": "30s"}}
put("plan_json", "rollout-spec", j(spec))
put("plan_json", "first-deploy-spec", j({"id": "first", "target": {"service": "api", "environment": "staging"},
    "stable": None, "candidate": {"id": "api-v1", "version": "0.1.0", "artifact": "api:0.1.0"},
    "plan": {"strategy": "rolling", "replicas": 1, "steps": [{"step": "scale", "role": "candidate", "replicas": 1}]}}))

# ---- strategy_config
strategies = {
    "rolling": {"type": "rolling", "max_surge": 1, "max_unavailable": "0%", "pause": "30s",
                "analysis": analysis},
    "rolling-percent": {"type": "rolling", "max_surge": "25%", "max_unavailable": "25%"},
    "canary": {"type": "canary", "steps": [{"set_weight": 10}, {"pause": "5m"}, {"analysis": analysis},
                                            {"set_weight": 50}, {"pause": {}}, {"gate": ["approval"]}],
               "traffic": "auto", "scale_down_delay": "30s"},
    "canary-replicas": {"type": "canary", "steps": [{"set_weight": 33}, {"set_weight": 66}], "traffic": "replicas"},
    "blue-green": {"type": "blue_green", "preview_replicas": 1, "auto_promotion_after": "10m",
                   "pre_promotion_analysis": analysis, "post_promotion_analysis": analysis,
                   "scale_down_delay": "30s"},
    "linear": {"type": "linear", "percent": 20, "interval": "2m", "analysis": analysis, "traffic": "weighted"},
    "recreate": {"type": "recreate", "analysis": analysis},
    "feature-flag": {"type": "feature_flag", "flag": "new-checkout", "percentages": [1, 10, 50, 100],
                     "pause": "10m", "analysis": analysis, "deploy": {"max_surge": 1, "max_unavailable": 0}},
}
for name, s in strategies.items():
    put("strategy_config", name, j(s))

# ---- gate_config
gates = {
    "command": {"type": "command", "name": "tests", "program": "npm", "args": ["test"], "timeout": "10m"},
    "http": {"type": "http", "name": "staging", "url": "http://127.0.0.1:8080/health", "method": "GET",
             "headers": {"X-Token": "t"}, "expect_status": [200, 204], "timeout": "5s", "retry_after": "1m",
             "json": {"path": "status", "equals": "ok"}},
    "file": {"type": "file", "name": "backup", "path": "/var/backups/db.dump", "max_age": "24h"},
    "approval": {"type": "approval", "name": "promote", "approval_file": "/run/shipcore/approve-{rollout_id}",
                 "timeout": "1h", "on_timeout": "stop"},
    "window": {"type": "window", "name": "window", "zone": "Europe/Berlin",
               "preset": "no_friday_afternoon_no_weekend",
               "freezes": [{"start": "2024-12-23", "end": "2025-01-02", "reason": "holidays"}]},
    "lock": {"type": "lock", "name": "lock", "dir": "/var/lib/shipcore/locks", "ttl": "6h", "retry_after": "30s"},
}
for name, g in gates.items():
    put("gate_config", name, j(g))

# ---- validator_config
validators = {
    "threshold": {"type": "metric_threshold", "name": "error-rate",
                  "query": "error_rate{revision=\"{{revision}}\"}", "warning": 0.01, "critical": 0.05, "for": "2m"},
    "baseline": {"type": "baseline", "name": "canary-vs-stable",
                 "sample_size": {"query": "requests{revision=\"{{revision}}\"}", "min": 100},
                 "rules": [{"metric": "error_rate", "query": "error_rate{revision=\"{{revision}}\"}", "tolerance": 0.01},
                           {"metric": "latency_p95", "query": "latency_p95{revision=\"{{revision}}\"}", "ratio": 1.1}]},
    "judge": {"type": "judge", "name": "judge", "window": "10m", "step": "30s",
              "metrics": [{"name": "errors", "query": "error_rate{revision=\"{{revision}}\"}", "critical": True},
                          {"name": "p95", "query": "latency_p95{revision=\"{{revision}}\"}", "weight": 2}]},
    "http-health": {"type": "http_health", "name": "health", "url": "http://{{service}}.internal:8080/health",
                    "timeout": "2s", "headers": {"Authorization": "Bearer t"}},
    "smoke": {"type": "smoke", "name": "smoke", "base_url": "http://127.0.0.1:8080",
              "requests": [{"path": "/health"}, {"path": "/admin", "expect_status": [401]},
                           {"method": "POST", "path": "/api/echo", "body": {"x": 1},
                            "expect": [{"path": "echo.x", "equals": 1}]}]},
    "log-pattern": {"type": "log_pattern", "name": "panics", "pattern": "panic|FATAL", "max": 0,
                    "file": "/var/log/web/{{revision}}.log"},
}
for name, v in validators.items():
    put("validator_config", name, j(v))

# ---- prom_response: first byte picks the status (index into the target's table), then the body
S200, S400, S401, S503 = b"\x00", b"\x04", b"\x05", b"\x0b"
put("prom_response", "vector", S200 + j({"status": "success", "data": {"resultType": "vector", "result": [
    {"metric": {"__name__": "up", "revision": "v2"}, "value": [1700000000.123, "0.25"]},
    {"metric": {"revision": "v1"}, "value": [1700000000.123, "NaN"]}]}}).encode())
put("prom_response", "matrix", S200 + j({"status": "success", "warnings": ["partial"], "data": {"resultType": "matrix", "result": [
    {"metric": {}, "values": [[1700000000, "1"], [1700000015, "+Inf"], [1700000030, "-Inf"]]}]}}).encode())
put("prom_response", "scalar", S200 + j({"status": "success", "data": {"resultType": "scalar", "result": [1700000000, "3.5e-3"]}}).encode())
put("prom_response", "string", S200 + j({"status": "success", "data": {"resultType": "string", "result": [1700000000, "hello"]}}).encode())
put("prom_response", "histogram", S200 + j({"status": "success", "data": {"resultType": "vector", "result": [
    {"metric": {}, "histogram": [1700000000, {"count": "2", "sum": "1", "buckets": [[0, "0", "1", "2"]]}]}]}}).encode())
put("prom_response", "bad-query", S400 + j({"status": "error", "errorType": "bad_data", "error": "parse error at char 5"}).encode())
put("prom_response", "error-on-200", S200 + j({"status": "error", "errorType": "execution", "error": "timeout"}).encode())
put("prom_response", "unauthorized", S401 + b"Unauthorized\n")
put("prom_response", "unavailable-html", S503 + "<html>Service Unavailable \u2014 try later</html>".encode())

# ---- compose_ps: `docker compose ps --format json`
c1 = {"Command": "\"serve --version 1.0\u2026\"", "CreatedAt": "2026-11-22 19:25:23 +0000 UTC", "ExitCode": 0,
      "Health": "starting", "ID": "48b29e731835", "Image": "localhost/shipcore-tiny:test",
      "Labels": "com.docker.compose.project=shipcore-hc,com.docker.compose.service=web-v1,"
                "com.docker.compose.container-number=2,io.shipcore.service=web,io.shipcore.revision=v1,"
                "io.shipcore.artifact=localhost/shipcore-tiny:test",
      "Name": "shipcore-hc-web-v1-2", "Project": "shipcore-hc",
      "Publishers": [{"URL": "127.0.0.1", "TargetPort": 8080, "PublishedPort": 35635, "Protocol": "tcp"},
                     {"URL": "::", "TargetPort": 9090, "PublishedPort": 35636, "Protocol": ""}],
      "Service": "web-v1", "State": "running", "Status": "Up 5 seconds"}
c2 = {"ID": "99", "Name": "shipcore-hc-db-1", "Service": "db", "State": "exited", "Health": "",
      "Labels": "com.docker.compose.service=db", "Publishers": None}
put("compose_ps", "lines", json.dumps(c1) + "\n" + json.dumps(c2) + "\n")
put("compose_ps", "array", json.dumps([c1, c2]))
put("compose_ps", "empty", "")

# ---- haproxy_server_state: state NUL stat NUL backend
state = ("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
         "srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health "
         "srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord "
         "srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n"
         "3 web 1 s0 127.0.0.1 2 0 128 128 5 6 3 4 6 0 0 0 - 35635 - 0 0 - - 0\n"
         "3 web 2 s1 ::1 0 8 1 1 5 6 3 4 6 0 0 0 - 35636 - 0 0 - - 0\n"
         "3 web 3 s2 127.0.0.1 0 1 1 1 5 6 3 4 6 0 0 0 - 9 - 0 0 - - 0\n")
stat = ("# pxname,svname,qcur,qmax,scur,smax,slim,stot,status,weight\n"
        "web,FRONTEND,,,3,5,,10,OPEN,\n"
        "web,s0,0,0,2,4,,8,UP,128\n"
        "web,s1,0,0,1,1,,2,DRAIN,1\n"
        "web,BACKEND,0,0,3,5,,10,UP,129\n")
put("haproxy_server_state", "two-servers", state + "\0" + stat + "\0" + "web")
put("haproxy_server_state", "no-backend", "Can't find backend.\n\0\0web")
put("haproxy_server_state", "no-stat", state + "\0\0web")
