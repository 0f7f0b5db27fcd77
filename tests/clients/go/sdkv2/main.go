// A whoami with the AWS SDK for Go v2's default credential chain, for ecs-xrole's tests:
// prints the caller identity and the credentials' source as JSON, or the error on stderr
// with exit 1; with -version, the SDK's version.
//
// The STS endpoint is AWS_ENDPOINT_URL when set, applied here: releases from before late
// 2023 (Debian 12 ships 1.17.1) do not read that variable themselves.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
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
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		fail("load config", err)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		fail("retrieve credentials", err)
	}
	client := sts.NewFromConfig(cfg, func(o *sts.Options) {
		if url := os.Getenv("AWS_ENDPOINT_URL"); url != "" {
			o.EndpointResolver = sts.EndpointResolverFromURL(url)
		}
	})
	out, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		fail("GetCallerIdentity", err)
	}
	_ = json.NewEncoder(os.Stdout).Encode(map[string]string{
		"Account": aws.ToString(out.Account),
		"Arn":     aws.ToString(out.Arn),
		"Source":  creds.Source,
	})
}
