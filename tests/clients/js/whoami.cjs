// A whoami with the AWS SDK for JavaScript v3's default credential chain, for ecs-xrole's
// tests: prints the caller identity as JSON, or the error on stderr with exit 1. The SDK is
// found through NODE_PATH (tests/clients/install.sh installs it with npm); it reads
// AWS_ENDPOINT_URL itself.
"use strict";
const { STSClient, GetCallerIdentityCommand } = require("@aws-sdk/client-sts");

new STSClient({})
  .send(new GetCallerIdentityCommand({}))
  .then((out) => console.log(JSON.stringify({ Account: out.Account, Arn: out.Arn })))
  .catch((err) => {
    console.error(`GetCallerIdentity: ${err}`);
    process.exit(1);
  });
