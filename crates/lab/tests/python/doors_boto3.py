"""boto3 as an independent client of the lab's HTTPS doors (iot-data and the IoT control
plane): replays the call sequence it reads as JSON on stdin and prints, as JSON on stdout,
each call's answer: "ok" or the error type botocore parsed (Error.Code). Driven by
crates/lab/tests/it/doors_boto3.rs, which compares the answers with the Rust SDK's."""

import json
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def clients(endpoints, creds):
    session = boto3.session.Session(
        aws_access_key_id=creds["akid"],
        aws_secret_access_key=creds["secret"],
        aws_session_token=creds.get("token"),
        region_name="us-east-1",
    )
    # No retries: one call is one request, as in the Rust replay.
    config = Config(retries={"max_attempts": 1, "mode": "standard"})
    data = session.client("iot-data", endpoint_url=endpoints["iot_data"], config=config)
    iot = session.client("iot", endpoint_url=endpoints["iot"], config=config)
    return data, iot


def shadow_args(call):
    args = {"thingName": call["thing"]}
    if call.get("shadow") is not None:
        args["shadowName"] = call["shadow"]
    return args


def perform(data, iot, call):
    op = call["op"]
    if op == "publish":
        data.publish(topic=call["topic"], qos=1, retain=call["retain"], payload=call["payload"].encode())
    elif op == "get_thing_shadow":
        data.get_thing_shadow(**shadow_args(call))["payload"].read()
    elif op == "update_thing_shadow":
        data.update_thing_shadow(payload=call["payload"].encode(), **shadow_args(call))["payload"].read()
    elif op == "delete_thing_shadow":
        data.delete_thing_shadow(**shadow_args(call))["payload"].read()
    elif op == "list_named_shadows_for_thing":
        data.list_named_shadows_for_thing(thingName=call["thing"])
    elif op == "get_retained_message":
        data.get_retained_message(topic=call["topic"])
    elif op == "list_retained_messages":
        data.list_retained_messages()
    elif op == "delete_connection":
        data.delete_connection(clientId=call["client_id"])
    elif op == "attach_policy":
        iot.attach_policy(policyName=call["policy"], target=call["target"])
    elif op == "detach_policy":
        iot.detach_policy(policyName=call["policy"], target=call["target"])
    elif op == "attach_thing_principal":
        iot.attach_thing_principal(thingName=call["thing"], principal=call["principal"])
    elif op == "list_things":
        iot.list_things()
    elif op == "describe_thing":
        iot.describe_thing(thingName=call["thing"])
    elif op == "get_policy":
        iot.get_policy(policyName=call["policy"])
    elif op == "list_attached_policies":
        iot.list_attached_policies(target=call["target"])
    else:
        raise ValueError(f"unknown op {op}")


def main():
    spec = json.load(sys.stdin)
    made = {}
    answers = []
    for step in spec["steps"]:
        who = step["who"]
        if who not in made:
            made[who] = clients(spec["endpoints"], spec["identities"][who])
        data, iot = made[who]
        try:
            perform(data, iot, step["call"])
            answers.append("ok")
        except ClientError as e:
            answers.append(e.response.get("Error", {}).get("Code") or f"no error type: {e}")
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
