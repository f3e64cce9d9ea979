"""boto3 as an independent client of the lab's identity plane.

Driven by tests/it/identity_boto3.rs, which starts the lab and passes endpoints and the
integrator's static keys in the environment. Prints one JSON object: the credentials boto3
obtained (the Rust side proves them on MQTT) and the error codes boto3 parsed.
"""

import json
import os
import sys

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

env = os.environ
REGION = "us-east-1"
unsigned = Config(signature_version=UNSIGNED, retries={"max_attempts": 1})
signed = Config(retries={"max_attempts": 1})


def code(fn):
    try:
        fn()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


def sts_client(akid, secret, token=None):
    """An STS client of the lab signing with these credentials."""
    return boto3.client(
        "sts",
        region_name=REGION,
        endpoint_url=env["LAB_STS"],
        aws_access_key_id=akid,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=signed,
    )


def main():
    sts = sts_client(env["LAB_AKID"], env["LAB_SECRET"])
    role = env["LAB_ROLE_ARN"]
    out = sts.assume_role(
        RoleArn=role,
        RoleSessionName="boto3-dev-1",
        Policy=env["LAB_SESSION_POLICY"],
        DurationSeconds=900,
    )
    c = out["Credentials"]
    session = sts_client(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    who = session.get_caller_identity()

    idp = boto3.client("cognito-idp", region_name=REGION, endpoint_url=env["LAB_COGNITO_IDP"], config=unsigned)
    auth = idp.initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH",
        ClientId=env["LAB_CLIENT_ID"],
        AuthParameters={"USERNAME": "alice", "PASSWORD": env["LAB_ALICE_PASSWORD"]},
    )
    id_token = auth["AuthenticationResult"]["IdToken"]
    ci = boto3.client("cognito-identity", region_name=REGION, endpoint_url=env["LAB_COGNITO_IDENTITY"], config=unsigned)
    logins = {env["LAB_PROVIDER"]: id_token}
    identity_id = ci.get_id(IdentityPoolId=env["LAB_POOL"], Logins=logins)["IdentityId"]
    cog = ci.get_credentials_for_identity(IdentityId=identity_id, Logins=logins)
    guest_id = ci.get_id(IdentityPoolId=env["LAB_POOL"])["IdentityId"]
    guest = ci.get_credentials_for_identity(IdentityId=guest_id)

    errors = {
        "assume_untrusted": code(
            lambda: sts_client("AKIALABOPS0000000001", "lab-secret-ops").assume_role(
                RoleArn=role, RoleSessionName="ops"
            )
        ),
        "assume_bad_policy": code(lambda: sts.assume_role(RoleArn=role, RoleSessionName="x1", Policy="{nope")),
        "assume_too_long": code(
            lambda: sts.assume_role(RoleArn=role, RoleSessionName="x2", DurationSeconds=7200)
        ),
        "wrong_secret": code(lambda: sts_client(env["LAB_AKID"], "wrong").get_caller_identity()),
        "wrong_password": code(
            lambda: idp.initiate_auth(
                AuthFlow="USER_PASSWORD_AUTH",
                ClientId=env["LAB_CLIENT_ID"],
                AuthParameters={"USERNAME": "alice", "PASSWORD": "wrong"},
            )
        ),
        "unknown_pool": code(lambda: ci.get_id(IdentityPoolId="us-east-1:00000000-0000-0000-0000-000000000000")),
        "bad_login_token": code(lambda: ci.get_id(IdentityPoolId=env["LAB_POOL"], Logins={env["LAB_PROVIDER"]: "x.y.z"})),
    }

    print(
        json.dumps(
            {
                "sts": {
                    "AccessKeyId": c["AccessKeyId"],
                    "SecretAccessKey": c["SecretAccessKey"],
                    "SessionToken": c["SessionToken"],
                    "Expiration": c["Expiration"].isoformat(),
                    "Arn": who["Arn"],
                },
                "cognito": {
                    "IdentityId": identity_id,
                    "AccessKeyId": cog["Credentials"]["AccessKeyId"],
                    "SecretKey": cog["Credentials"]["SecretKey"],
                    "SessionToken": cog["Credentials"]["SessionToken"],
                    "Expiration": cog["Credentials"]["Expiration"].isoformat(),
                },
                "guest": {
                    "IdentityId": guest_id,
                    "AccessKeyId": guest["Credentials"]["AccessKeyId"],
                    "SecretKey": guest["Credentials"]["SecretKey"],
                    "SessionToken": guest["Credentials"]["SessionToken"],
                },
                "errors": errors,
            }
        )
    )


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # surface any failure to the Rust driver with context
        print(f"boto3 client failed: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
