#!/usr/bin/env python3
"""The suite benchmark's peer: what a user would write today instead of iot-canary — a Python
script on the AWS IoT Device SDK v2 (`awsiotsdk`, MQTT 5 via
`mqtt5_client_builder.websockets_with_default_aws_signing`) running the same canaries with a
thread pool of the same concurrency. One client per canary (the SDK's examples' shape); the
verdict rules mirror iot-canary's MQTT 5 ones: an explicit 0x87 is `denied`, success is
`allowed`, anything else `inconclusive`; receive canaries whose SUBSCRIBE is granted are
judged by bait (a witness publishes a nonce; not receiving it within the grace is `denied`).

With --reuse, the more careful variant: one long-lived client per identity shared by that
identity's canaries (as iot-canary does); connect canaries and witnesses still connect per
canary.

usage: peer.py CANARIES_TOML KEYS_JSON [--concurrency N] [--grace S] [--reuse] > verdicts.json
Prints {"verdicts": {canary: verdict}, "wall_s": ...} as JSON.
"""
import argparse
import concurrent.futures
import json
import sys
import threading
import time
import tomllib
import uuid
from urllib.parse import urlparse

from awscrt import auth, mqtt5
from awsiot import mqtt5_client_builder

WAIT = 10  # per-step timeout, like iot-canary's per-probe timeout
DENIED = 0x87


class Peer:
    def __init__(self, cfg, keys, grace, reuse=False):
        self.reuse = reuse
        self.shared = {}  # identity -> (client, {nonce: Event})
        url = urlparse(cfg["target"]["endpoint"])
        self.host, self.port = url.hostname, url.port or 443
        self.ca = cfg["target"].get("ca_file")
        self.region = cfg["target"]["region"]
        self.keys = keys
        self.grace = grace
        self.seq = 0
        self.lock = threading.Lock()

    def client_id(self, ident):
        with self.lock:
            self.seq += 1
            return f"{ident}-peer-{self.seq}-{uuid.uuid4().hex[:6]}"

    def client(self, ident, client_id, on_message=None):
        """Starts a client; returns (client, connack reason code or None on success)."""
        akid, secret = self.keys[ident]
        creds = auth.AwsCredentialsProvider.new_static(akid, secret)
        done = threading.Event()
        result = {}

        def ok(data):
            result["code"] = None
            done.set()

        def failed(data):
            pkt = data.connack_packet
            result.setdefault("code", int(pkt.reason_code) if pkt else -1)
            done.set()

        kw = {}
        if on_message:
            kw["on_publish_received"] = on_message
        c = mqtt5_client_builder.websockets_with_default_aws_signing(
            endpoint=self.host, port=self.port, region=self.region,
            credentials_provider=creds, ca_filepath=self.ca, client_id=client_id,
            on_lifecycle_connection_success=ok, on_lifecycle_connection_failure=failed, **kw)
        c.start()
        if not done.wait(WAIT):
            c.stop()
            return c, -2
        if result["code"] is not None:
            c.stop()  # the SDK would retry with backoff otherwise
        return c, result["code"]

    @staticmethod
    def subscribe(c, flt):
        sub = c.subscribe(mqtt5.SubscribePacket(subscriptions=[
            mqtt5.Subscription(topic_filter=flt, qos=mqtt5.QoS.AT_LEAST_ONCE)])).result(WAIT)
        return int(sub.reason_codes[0])

    @staticmethod
    def publish(c, topic, payload):
        r = c.publish(mqtt5.PublishPacket(topic=topic, payload=payload,
                                          qos=mqtt5.QoS.AT_LEAST_ONCE)).result(WAIT)
        return int(r.puback.reason_code)

    @staticmethod
    def judge(code):
        if code == DENIED:
            return "denied"
        if code is not None and code < 0x80:
            return "allowed"
        return "inconclusive"

    def run(self, canary):
        try:
            return self._run(canary)
        except Exception:  # timeouts and SDK errors are inconclusive, never denied
            return "inconclusive"

    def _run(self, k):
        ident, action = k["identity"], k["action"]
        nonce = uuid.uuid4().hex
        payload = json.dumps({"iot_canary": True, "canary": k["name"], "nonce": nonce}).encode()
        if action == "connect":
            c, code = self.client(ident, k["client_id"])
            if code is None:
                c.stop()
                return "allowed"
            return self.judge(code)
        got = threading.Event()

        def on_message(data):
            if nonce.encode() in bytes(data.publish_packet.payload):
                got.set()

        if self.reuse:
            c, waiters = self.shared_client(ident)
            if c is None:
                return "inconclusive"
            with self.lock:
                waiters[nonce] = got
            try:
                return self.act(k, c, nonce, payload, got, on_message)
            finally:
                with self.lock:
                    waiters.pop(nonce, None)
        c, code = self.client(ident, self.client_id(ident), on_message)
        if code is not None:
            return "inconclusive"
        try:
            return self.act(k, c, nonce, payload, got, on_message)
        finally:
            c.stop()

    def shared_client(self, ident):
        """One client per identity, created once; messages go to the waiting canary by nonce."""
        with self.lock:
            entry = self.shared.get(ident)
            if entry is None:
                entry = {"ready": threading.Event(), "client": None, "waiters": {}}
                self.shared[ident] = entry
                creator = True
            else:
                creator = False
        if creator:
            waiters = entry["waiters"]

            def on_message(data):
                body = bytes(data.publish_packet.payload)
                with self.lock:
                    hits = [e for n, e in waiters.items() if n.encode() in body]
                for e in hits:
                    e.set()

            c, code = self.client(ident, self.client_id(ident), on_message)
            entry["client"] = c if code is None else None
            entry["ready"].set()
        entry["ready"].wait(WAIT)
        return entry["client"], entry["waiters"]

    def close(self):
        for entry in self.shared.values():
            if entry["client"] is not None:
                entry["client"].stop()

    def witnessed(self, k, on_message, then):
        """then(witness) with k's witness connected and subscribed to k's topic; inconclusive
        when the witness cannot listen."""
        w, wcode = self.client(k["witness"], self.client_id(k["witness"]), on_message)
        if wcode is not None:
            return "inconclusive"
        try:
            if self.subscribe(w, k["topic"]) >= 0x80:
                return "inconclusive"
            return then(w)
        finally:
            w.stop()

    def act(self, k, c, nonce, payload, got, on_message):
        action = k["action"]
        if action == "subscribe":
            return self.judge(self.subscribe(c, k["topic_filter"]))
        if action == "publish":
            if "witness" not in k:
                return self.judge(self.publish(c, k["topic"], payload))

            def publish_watched(_w):
                code = self.publish(c, k["topic"], payload)
                if code >= 0x80:
                    return self.judge(code)
                return "allowed" if got.wait(self.grace) else "inconclusive"

            return self.witnessed(k, on_message, publish_watched)
        if action == "receive":
            code = self.subscribe(c, k.get("topic_filter", k["topic"]))
            if code >= 0x80:
                return self.judge(code)
            seen = threading.Event()

            def on_bait(data):
                if nonce.encode() in bytes(data.publish_packet.payload):
                    seen.set()

            def bait(w):
                if self.publish(w, k["topic"], payload) >= 0x80 or not seen.wait(WAIT):
                    return "inconclusive"
                return "allowed" if got.wait(self.grace) else "denied"

            return self.witnessed(k, on_bait, bait)
        if action.startswith("shadow-"):
            op = action.split("-", 1)[1]
            shadow = k.get("shadow") or ("iot-canary" if op == "delete" else None)
            base = f"$aws/things/{k['thing']}/shadow" + (f"/name/{shadow}" if shadow else "")
            self.subscribe(c, f"{base}/{op}/+")
            return self.judge(self.publish(c, f"{base}/{op}", payload))
        return "inconclusive"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("canaries")
    ap.add_argument("keys")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--grace", type=float, default=1.0)
    ap.add_argument("--reuse", action="store_true")
    a = ap.parse_args()
    with open(a.canaries, "rb") as f:
        cfg = tomllib.load(f)
    with open(a.keys) as f:
        keys = json.load(f)
    peer = Peer(cfg, keys, a.grace, a.reuse)
    canaries = cfg["canary"]
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(a.concurrency) as pool:
        verdicts = dict(zip((k["name"] for k in canaries), pool.map(peer.run, canaries)))
    peer.close()
    wall = time.monotonic() - t0
    json.dump({"verdicts": verdicts, "wall_s": wall}, sys.stdout)
    print()


if __name__ == "__main__":
    sys.exit(main())
