// A whoami with the AWS SDK for Go v1's default credential chain, for ecs-xrole's tests:
// prints the caller identity and the credentials' provider as JSON, or the error on stderr
// with exit 1; with -version, the SDK's version.
//
// The STS endpoint is AWS_ENDPOINT_URL when set, applied here: releases from before late
// 2023 (Debian 12 ships 1.44.133) do not read that variable themselves.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/session"
	"github.com/aws/aws-sdk-go/service/sts"
)

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
	os.Exit(1)
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-version" {
		fmt.Println(aws.SDKVersion)
		return
	}
	sess, err := session.NewSessionWithOptions(session.Options{})
	if err != nil {
		fail("new session", err)
	}
	creds, err := sess.Config.Credentials.Get()
	if err != nil {
		fail("get credentials", err)
	}
	cfg := aws.NewConfig()
	if url := os.Getenv("AWS_ENDPOINT_URL"); url != "" {
		cfg = cfg.WithEndpoint(url)
	}
	out, err := sts.New(sess, cfg).GetCallerIdentity(&sts.GetCallerIdentityInput{})
	if err != nil {
		fail("GetCallerIdentity", err)
	}
	_ = json.NewEncoder(os.Stdout).Encode(map[string]string{
		"Account": aws.StringValue(out.Account),
		"Arn":     aws.StringValue(out.Arn),
		"Source":  creds.ProviderName,
	})
}
