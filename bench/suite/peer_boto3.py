#!/usr/bin/env python3
"""The suite benchmark's doors-share peer: what a careful user would write today instead of
iot-canary for the HTTPS data plane and the IoT control plane — boto3 (`iot-data`, `iot`, and
`sts` for the caller's own ARN) making the same calls as the doors canaries, with a thread
pool of the same concurrency and one boto3 client per identity per service (created once,
shared by that identity's canaries; boto3 clients are thread-safe, sessions are not, so each
identity gets its own session, built under that identity's lock).

Verdict rules (iot-canary's, docs/doors.md): success or ResourceNotFoundException → allowed;
AccessDenied(Exception) / UnauthorizedException → denied; 403 ForbiddenException → denied only
when the identity's control of the same family succeeded this round; anything else (other
errors, timeouts) → inconclusive. As in iot-canary, a deny canary is `denied` only beside a
succeeding control of its own family and identity, so the controls run first.
`https-publish` is judged by the `ops` witness: an MQTT 5 client (awsiotsdk, as in peer.py,
one shared witness connection) subscribed to the topic before the publish; a 2xx the witness
saw is allowed, one it did not see is inconclusive.

usage: peer_boto3.py DOORS_TOML KEYS_JSON [--concurrency N] [--grace S] > verdicts.json
Prints {"verdicts": {canary: verdict}, "wall_s": ...} as JSON.
"""
import argparse
import concurrent.futures
import json
import secrets
import sys
import threading
import time
import tomllib

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from peer import Peer as MqttPeer

DENIED_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedException"}
HTTPS = {"https-publish", "https-shadow-get", "https-shadow-update", "https-shadow-delete",
         "https-shadow-list", "https-retained-get", "https-retained-list", "delete-connection"}


def family(action):
    return "https" if action in HTTPS else "control-plane"


class Clients:
    """One session and one client per service for one identity, made on first use."""

    def __init__(self, akid, secret, endpoints, region, pool):
        self.lock = threading.Lock()
        self.args = (akid, secret, endpoints, region, pool)
        self.made = None
        self.caller_arn = None

    def get(self):
        with self.lock:
            if self.made is None:
                akid, secret, endpoints, region, pool = self.args
                session = boto3.session.Session(aws_access_key_id=akid,
                                                aws_secret_access_key=secret,
                                                region_name=region)
                # One call is one request (no retries), as iot-canary's probes.
                config = Config(retries={"max_attempts": 1, "mode": "standard"},
                                max_pool_connections=pool, connect_timeout=10, read_timeout=10)
                self.made = {
                    "iot-data": session.client("iot-data", endpoint_url=endpoints["iot_data"],
                                               config=config),
                    "iot": session.client("iot", endpoint_url=endpoints["iot"], config=config),
                    "sts": session.client("sts", endpoint_url=endpoints["sts"], config=config),
                }
            return self.made

    def own_arn(self):
        """The identity's own principal for attach-policy (GetCallerIdentity needs no
        permission); asked once per identity."""
        c = self.get()
        with self.lock:
            if self.caller_arn is None:
                self.caller_arn = c["sts"].get_caller_identity()["Arn"]
            return self.caller_arn


class Peer:
    def __init__(self, cfg, keys, grace, pool):
        self.cfg = cfg
        self.grace = grace
        region = cfg["target"]["region"]
        self.clients = {ident: Clients(akid, secret, cfg["endpoints"], region, pool)
                        for ident, (akid, secret) in keys.items()}
        self.controls = {}  # (identity, family) -> bool (the control succeeded)
        self.mqtt = MqttPeer(cfg, keys, grace, reuse=True)
        self.witness_lock = threading.Lock()
        self.witness = None
        self.waiters = {}

    def witness_client(self, ident):
        """One long-lived MQTT witness connection; messages go to the waiting canary by nonce."""
        with self.witness_lock:
            if self.witness is None:
                def on_message(data):
                    body = bytes(data.publish_packet.payload)
                    with self.witness_lock:
                        hits = [e for n, e in self.waiters.items() if n.encode() in body]
                    for e in hits:
                        e.set()

                c, code = self.mqtt.client(ident, self.mqtt.client_id(ident), on_message)
                self.witness = c if code is None else False
            return self.witness or None

    def judge_error(self, k, err):
        code = err.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            return "allowed"  # a 404 on a probe-named resource comes after authorization
        refused = code in DENIED_CODES or (
            code == "ForbiddenException"
            and err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 403)
        if not refused:
            return "inconclusive"
        if k.get("expect") == "allow":
            return "denied"  # a control's refusal is reported as such (no control behind it)
        # Denied only beside this round's succeeding control of the same family.
        ok = self.controls.get((k["identity"], family(k["action"])), False)
        return "denied" if ok else "inconclusive"

    def run(self, k):
        try:
            verdict = self.call(k)
        except ClientError as err:
            verdict = self.judge_error(k, err)
        except Exception:  # timeouts, connection errors, SDK errors: never denied
            verdict = "inconclusive"
        if k.get("expect") == "allow":
            self.controls[(k["identity"], family(k["action"]))] = verdict == "allowed"
        return verdict

    def call(self, k):
        c = self.clients[k["identity"]].get()
        data, iot = c["iot-data"], c["iot"]
        action = k["action"]
        nonce = secrets.token_hex(6)
        if action == "https-shadow-get":
            args = {"thingName": k["thing"]}
            if k.get("shadow"):
                args["shadowName"] = k["shadow"]
            data.get_thing_shadow(**args)["payload"].read()
        elif action == "https-retained-get":
            data.get_retained_message(topic=k["topic"])
        elif action == "delete-connection":
            data.delete_connection(clientId=k["client_id"].replace("${nonce}", nonce),
                                   cleanSession=False, preventWillMessage=True)
        elif action == "https-publish":
            return self.publish_witnessed(k, data, nonce)
        elif action == "describe-thing":
            iot.describe_thing(thingName=k["thing"])
        elif action == "get-policy":
            iot.get_policy(policyName=k["policy_name"])
        elif action == "attach-policy":
            name = k.get("policy_name", "iot-canary-probe-${nonce}").replace("${nonce}", nonce)
            iot.attach_policy(policyName=name, target=self.clients[k["identity"]].own_arn())
        elif action == "list-things":
            iot.list_things(maxResults=1)
        else:
            return "inconclusive"
        return "allowed"

    def publish_witnessed(self, k, data, nonce):
        w = self.witness_client(k["witness"])
        if w is None or MqttPeer.subscribe(w, k["topic"]) >= 0x80:
            return "inconclusive"
        got = threading.Event()
        with self.witness_lock:
            self.waiters[nonce] = got
        try:
            payload = json.dumps({"iot_canary": True, "canary": k["name"], "nonce": nonce})
            data.publish(topic=k["topic"], qos=int(k.get("qos", 0)), retain=False,
                         payload=payload.encode())
            return "allowed" if got.wait(self.grace) else "inconclusive"
        finally:
            with self.witness_lock:
                self.waiters.pop(nonce, None)

    def close(self):
        if self.witness:
            self.witness.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("canaries")
    ap.add_argument("keys")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--grace", type=float, default=1.0)
    a = ap.parse_args()
    with open(a.canaries, "rb") as f:
        cfg = tomllib.load(f)
    with open(a.keys) as f:
        keys = json.load(f)
    peer = Peer(cfg, keys, a.grace, a.concurrency)
    canaries = cfg["canary"]
    controls = [k for k in canaries if k.get("expect") == "allow"]
    denies = [k for k in canaries if k.get("expect") != "allow"]
    t0 = time.monotonic()
    verdicts = {}
    with concurrent.futures.ThreadPoolExecutor(a.concurrency) as pool:
        for batch in (controls, denies):
            verdicts.update(zip((k["name"] for k in batch), pool.map(peer.run, batch)))
    peer.close()
    wall = time.monotonic() - t0
    json.dump({"verdicts": verdicts, "wall_s": wall}, sys.stdout)
    print()


if __name__ == "__main__":
    sys.exit(main())
