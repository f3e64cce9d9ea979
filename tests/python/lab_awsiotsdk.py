"""Independent client check of the lab: the AWS IoT Device SDK v2 for Python, with its stock
websockets_with_default_aws_signing builders (MQTT 3.1.1 and MQTT 5), a static credentials
provider and the lab's CA. Prints one JSON object with what it observed; the Rust test
(tests/it/lab_python.rs) asserts on it.

usage: lab_awsiotsdk.py HOST PORT CA_FILE ALICE_AKID ALICE_SECRET OPS_AKID OPS_SECRET
"""
import json
import sys
import threading
import time

from awscrt import auth, mqtt, mqtt5
from awsiot import mqtt_connection_builder, mqtt5_client_builder

HOST, PORT, CA = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ALICE = auth.AwsCredentialsProvider.new_static(sys.argv[4], sys.argv[5])
OPS = auth.AwsCredentialsProvider.new_static(sys.argv[6], sys.argv[7])
REGION = "us-east-1"
WAIT = 20
out = {}


def v311(creds, client_id, interrupted=None):
    return mqtt_connection_builder.websockets_with_default_aws_signing(
        endpoint=HOST, port=PORT, region=REGION, credentials_provider=creds,
        ca_filepath=CA, client_id=client_id, clean_session=True, keep_alive_secs=30,
        on_connection_interrupted=(lambda connection, error, **kw: interrupted.set()) if interrupted else None)


def run_v311():
    r = {}
    c = v311(ALICE, "alice-py3")
    c.connect().result(WAIT)
    r["connect_allowed"] = True
    c.disconnect().result(WAIT)

    c = v311(ALICE, "bob-py3")
    try:
        c.connect().result(WAIT)
        r["connect_denied"] = "connected"
    except Exception as e:  # the SDK reports the hang-up as an exception
        r["connect_denied"] = type(e).__name__ + ": " + str(e)

    for action in ("publish", "subscribe"):
        hung_up = threading.Event()
        c = v311(ALICE, "alice-py3-" + action, hung_up)
        c.connect().result(WAIT)
        if action == "publish":
            c.publish("bob/x", b"forbidden", mqtt.QoS.AT_LEAST_ONCE)
        else:
            c.subscribe("bob/#", mqtt.QoS.AT_LEAST_ONCE, callback=lambda **kw: None)
        r[action + "_denied_hangup"] = hung_up.wait(WAIT)
        c.disconnect()

    got = []
    arrived = threading.Event()
    def on_message(topic, payload, **kw):
        got.append(topic)
        arrived.set()
    c = v311(ALICE, "alice-py3-recv")
    c.connect().result(WAIT)
    fut, _ = c.subscribe("shared/#", mqtt.QoS.AT_LEAST_ONCE, callback=on_message)
    r["subscribe_allowed_qos"] = int(fut.result(WAIT)["qos"])
    ops = v311(OPS, "ops-py3")
    ops.connect().result(WAIT)
    ops.publish("shared/secret", b"s", mqtt.QoS.AT_LEAST_ONCE)[0].result(WAIT)
    ops.publish("shared/ok", b"o", mqtt.QoS.AT_LEAST_ONCE)[0].result(WAIT)
    arrived.wait(WAIT)
    r["received"] = list(got)
    ops.disconnect().result(WAIT)
    c.disconnect().result(WAIT)
    return r


def v5(creds, client_id, **callbacks):
    return mqtt5_client_builder.websockets_with_default_aws_signing(
        endpoint=HOST, port=PORT, region=REGION, credentials_provider=creds,
        ca_filepath=CA, client_id=client_id, **callbacks)


def started(creds, client_id, **cb):
    ok = threading.Event()
    client = v5(creds, client_id, on_lifecycle_connection_success=lambda d: ok.set(), **cb)
    client.start()
    if not ok.wait(WAIT):
        raise RuntimeError("v5 connect timed out: " + client_id)
    return client


def run_v5():
    r = {}
    failed = []
    done = threading.Event()
    def on_failure(data):
        code = data.connack_packet.reason_code if data.connack_packet else None
        failed.append(int(code) if code is not None else None)
        done.set()
    c = v5(ALICE, "bob-py5", on_lifecycle_connection_failure=on_failure)
    c.start()
    done.wait(WAIT)
    c.stop()
    r["connect_denied_code"] = failed[0] if failed else None

    got = []
    arrived = threading.Event()
    def on_pub(data):
        got.append(data.publish_packet.topic)
        arrived.set()
    c = started(ALICE, "alice-py5", on_publish_received=on_pub)
    r["connect_allowed"] = True
    pub = c.publish(mqtt5.PublishPacket(topic="bob/x", payload=b"f", qos=mqtt5.QoS.AT_LEAST_ONCE)).result(WAIT)
    r["publish_denied_code"] = int(pub.puback.reason_code)
    sub = c.subscribe(mqtt5.SubscribePacket(subscriptions=[mqtt5.Subscription(topic_filter="bob/#", qos=mqtt5.QoS.AT_LEAST_ONCE)])).result(WAIT)
    r["subscribe_denied_codes"] = [int(x) for x in sub.reason_codes]
    sub = c.subscribe(mqtt5.SubscribePacket(subscriptions=[mqtt5.Subscription(topic_filter="shared/#", qos=mqtt5.QoS.AT_LEAST_ONCE)])).result(WAIT)
    r["subscribe_allowed_codes"] = [int(x) for x in sub.reason_codes]
    ops = started(OPS, "ops-py5")
    ops.publish(mqtt5.PublishPacket(topic="shared/secret", payload=b"s", qos=mqtt5.QoS.AT_LEAST_ONCE)).result(WAIT)
    ops.publish(mqtt5.PublishPacket(topic="shared/ok", payload=b"o", qos=mqtt5.QoS.AT_LEAST_ONCE)).result(WAIT)
    arrived.wait(WAIT)
    r["received"] = list(got)
    ops.stop()
    c.stop()
    return r


out["v311"] = run_v311()
out["v5"] = run_v5()
print(json.dumps(out), flush=True)
