#!/usr/bin/env python3
"""Generates the suite benchmark's world: a lab scenario with N static-key users plus an `ops`
witness, and a canaries.toml with D deny canaries spread evenly over the users (mixed
connect / publish / subscribe / receive / shadow, MQTT 5 over TLS) and one control per user.

With --doors K (K > 0), also the doors share: doors.in.toml, the same identities with K deny
canaries per user on the other doors — HTTPS data plane (https-shadow-get and
https-retained-get on another user's thing/topic, delete-connection of a probe-named client id
inside another user's pattern, https-publish to another user's topic observed by the `ops`
witness) and control plane (describe-thing of another user's thing, get-policy of the witness's
policy, attach-policy of a probe-named policy, list-things) — plus the two controls each user
needs (a deny canary counts only beside a control of its own family: `https-shadow-get` and
`describe-thing` of its own thing, which the scenario's User policy grants).

usage: gen.py OUT_DIR [--users 50] [--deny 1000] [--doors 8] [--concurrency 64]

Writes OUT_DIR/scenario.toml, OUT_DIR/canaries.in.toml (endpoint placeholders @MQTT@, @CA@),
OUT_DIR/doors.in.toml (also @IOT_DATA@, @IOT@, @STS@) when --doors > 0,
OUT_DIR/keys.json ({identity: [access_key_id, secret]}) — lab-only secrets; the canaries files
reference them through environment variables, never inline.
"""
import argparse
import json
import os

ACCOUNT = "123456789012"
ARN = f"arn:aws:iot:us-east-1:{ACCOUNT}"

# Each user may: connect as `<user>-*`; publish/receive its own device topics and shadows;
# subscribe to its own filters and to `shared/#` — but receive only `shared/<user>/...`, so a
# receive canary on another user's `shared/` topic gets SUBACK 0x00 and must be judged by
# bait (iot:Receive is checked per delivery).
USER_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "iot:Connect",
         "Resource": f"{ARN}:client/${{aws:username}}-*"},
        {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
         "Resource": [f"{ARN}:topic/devices/${{aws:username}}-*",
                      f"{ARN}:topic/$aws/things/${{aws:username}}-*",
                      f"{ARN}:topic/shared/${{aws:username}}/*"]},
        {"Effect": "Allow", "Action": "iot:Subscribe",
         "Resource": [f"{ARN}:topicfilter/devices/${{aws:username}}-*",
                      f"{ARN}:topicfilter/$aws/things/${{aws:username}}-*",
                      f"{ARN}:topicfilter/shared/*"]},
    ],
}
# With --doors, the users may also read their own things' shadows over HTTPS and their own
# things in the registry: the doors share's controls. Neither touches the MQTT share's
# canaries; without --doors the scenario is exactly the MQTT share's.
DOORS_STATEMENT = {"Effect": "Allow", "Action": ["iot:GetThingShadow", "iot:DescribeThing"],
                   "Resource": f"{ARN}:thing/${{aws:username}}-*"}
WITNESS_POLICY = {"Version": "2012-10-17",
                  "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}

# The per-user cycle of deny canary kinds (20 per user with the defaults).
KINDS = [
    "connect", "subscribe", "publish", "receive", "shadow-get",
    "connect", "subscribe", "publish-witness", "receive", "shadow-update",
    "connect", "subscribe", "publish", "receive-bait", "shadow-delete",
    "connect", "subscribe", "publish-witness", "receive", "shadow-get",
]


# The per-user cycle of doors deny canary kinds (half HTTPS data plane, half control plane).
DOOR_KINDS = [
    "https-shadow-get", "describe-thing", "https-retained-get", "get-policy",
    "delete-connection", "attach-policy", "https-publish", "list-things",
]


def user(i):
    return f"u{i:03d}"


def keys_for(i):
    return (f"AKIALABSUITE{i:08d}", f"lab-suite-secret-{i:03d}-0123456789abcdef")


def scenario(n_users, doors=False):
    policy = dict(USER_POLICY)
    if doors:
        policy["Statement"] = [*USER_POLICY["Statement"], DOORS_STATEMENT]
    lines = [
        'region = "us-east-1"', f'account_id = "{ACCOUNT}"', "", "[policies]",
        f"User = '''{json.dumps(policy)}'''",
        f"Witness = '''{json.dumps(WITNESS_POLICY)}'''", "",
        "[[iam_user]]", 'name = "ops"', 'access_key_id = "AKIALABSUITEOPS00001"',
        'secret_access_key = "lab-suite-secret-ops-0123456789abcdef"',
        'policies = ["Witness"]', "",
    ]
    for i in range(n_users):
        akid, secret = keys_for(i)
        lines += ["[[iam_user]]", f'name = "{user(i)}"', f'access_key_id = "{akid}"',
                  f'secret_access_key = "{secret}"', 'policies = ["User"]', ""]
        lines += ["[[thing]]", f'name = "{user(i)}-dev"', f'owner = "{user(i)}"', ""]
    return "\n".join(lines)


# The [target] every generated config shares (placeholders filled by run.py).
TARGET = """[target]
region = "us-east-1"
endpoint = "@MQTT@"
ca_file = "@CA@"
mqtt_version = "5"
"""


def schedule(concurrency):
    """The [schedule] and [server] tables every generated config shares."""
    return f"""[schedule]
interval = "60s"
timeout = "10s"
concurrency = {concurrency}
delivery_grace = "1s"

[server]
listen = "127.0.0.1:0"
"""


def canary(name, ident, action, **kw):
    out = ["[[canary]]", f'name = "{name}"', f'identity = "{ident}"', f'action = "{action}"']
    for k, v in kw.items():
        out.append(f"{k} = {json.dumps(v)}")
    return "\n".join(out) + "\n"


def canaries(n_users, n_deny, concurrency):
    head = f"""# Generated by bench/suite/gen.py: {n_deny} deny canaries over {n_users} users, MQTT 5 over TLS.
{TARGET}
{schedule(concurrency)}""".rstrip("\n")
    parts = [head, *identities(n_users)]
    per_user = [n_deny // n_users + (1 if i < n_deny % n_users else 0) for i in range(n_users)]
    for i in range(n_users):
        me = user(i)
        parts.append(canary(f"{me}-ctl-subscribe-own", me, "subscribe",
                            topic_filter=f"devices/{me}-dev/#", expect="allow"))
        for k in range(per_user[i]):
            # Never the user itself (with more than n_users - 1 canaries per user the
            # targets wrap around).
            other = user((i + 1 + k % (n_users - 1)) % n_users)
            kind = KINDS[k % len(KINDS)]
            name = f"{me}-deny-{k:03d}-{kind}-{other}"
            if kind == "connect":
                c = canary(name, me, "connect", client_id=f"{other}-dev-as-{me}-{k}")
            elif kind == "subscribe":
                c = canary(name, me, "subscribe", topic_filter=f"devices/{other}-dev/#")
            elif kind == "publish":
                c = canary(name, me, "publish", topic=f"devices/{other}-dev/cmd")
            elif kind == "publish-witness":
                c = canary(name, me, "publish", topic=f"devices/{other}-dev/cmd", witness="ops")
            elif kind == "receive":
                c = canary(name, me, "receive", topic=f"devices/{other}-dev/telemetry",
                           witness="ops")
            elif kind == "receive-bait":
                # The liveness marker must come through `shared/#` itself (evidence rule
                # R7): a topic it matches that the user may receive, its own shared topic.
                c = canary(name, me, "receive", topic=f"shared/{other}/news",
                           topic_filter="shared/#", witness="ops",
                           marker_topic=f"shared/{me}/iot-canary-marker")
            else:
                c = canary(name, me, kind, thing=f"{other}-dev")
            parts.append(c)
    return "\n".join(parts)


def identities(n_users):
    parts = ["""
[[identity]]
name = "ops"
kind = "static"
access_key_id_env = "SUITE_OPS_AKID"
secret_access_key_env = "SUITE_OPS_SECRET"
"""]
    for i in range(n_users):
        parts.append(f"""
[[identity]]
name = "{user(i)}"
kind = "static"
access_key_id_env = "SUITE_{user(i).upper()}_AKID"
secret_access_key_env = "SUITE_{user(i).upper()}_SECRET"
""")
    return parts


def doors(n_users, per_user, concurrency):
    """The doors share: per user two controls (one per family) and per_user deny canaries."""
    head = f"""# Generated by bench/suite/gen.py: the doors share, {per_user * n_users} deny canaries over
# {n_users} users on the HTTPS data plane and the IoT control plane.
{TARGET}
[endpoints]
sts = "@STS@"
iot_data = "@IOT_DATA@"
iot = "@IOT@"

{schedule(concurrency)}"""
    parts = [head, *identities(n_users)]
    for i in range(n_users):
        me = user(i)
        parts.append(canary(f"{me}-ctl-https-shadow-get-own", me, "https-shadow-get",
                            thing=f"{me}-dev", expect="allow"))
        parts.append(canary(f"{me}-ctl-describe-thing-own", me, "describe-thing",
                            thing=f"{me}-dev", expect="allow"))
        for k in range(per_user):
            other = user((i + 1 + k % (n_users - 1)) % n_users)
            kind = DOOR_KINDS[k % len(DOOR_KINDS)]
            name = f"{me}-door-{k:03d}-{kind}-{other}"
            if kind in ("https-shadow-get", "describe-thing"):
                c = canary(name, me, kind, thing=f"{other}-dev")
            elif kind == "https-retained-get":
                c = canary(name, me, kind, topic=f"devices/{other}-dev/state")
            elif kind == "get-policy":
                c = canary(name, me, kind, policy_name="Witness")
            elif kind == "delete-connection":
                # Probe-named, inside the pattern under test (the other user's client ids).
                c = canary(name, me, kind, client_id=f"{other}-dev-${{nonce}}")
            elif kind == "https-publish":
                c = canary(name, me, kind, topic=f"devices/{other}-dev/cmd", witness="ops",
                           qos=0)
            else:  # attach-policy (a probe-named policy), list-things
                c = canary(name, me, kind)
            parts.append(c)
    return "\n".join(parts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--deny", type=int, default=1000)
    ap.add_argument("--doors", type=int, default=0,
                    help="doors-share deny canaries per user (0: no doors share)")
    ap.add_argument("--concurrency", type=int, default=64)
    a = ap.parse_args()
    if a.users < 2:
        ap.error("--users must be at least 2 (deny canaries target another user)")
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "scenario.toml"), "w") as f:
        f.write(scenario(a.users, doors=a.doors > 0))
    with open(os.path.join(a.out, "canaries.in.toml"), "w") as f:
        f.write(canaries(a.users, a.deny, a.concurrency))
    if a.doors > 0:
        with open(os.path.join(a.out, "doors.in.toml"), "w") as f:
            f.write(doors(a.users, a.doors, a.concurrency))
    keys = {"ops": ["AKIALABSUITEOPS00001", "lab-suite-secret-ops-0123456789abcdef"]}
    for i in range(a.users):
        keys[user(i)] = list(keys_for(i))
    path = os.path.join(a.out, "keys.json")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        json.dump(keys, f)


if __name__ == "__main__":
    main()
