package aws

import (
	"context"
	"fmt"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/time/rate"
)

// clients are the service clients of one region of an account. They share one rate limit, so a
// worker never calls AWS faster than the account allows however many stages run at once.
type clients struct {
	region string
	ec2    *ec2.Client
	asg    *autoscaling.Client
	elbv2  *elasticloadbalancingv2.Client
	elb    *elasticloadbalancing.Client
	ssm    *ssm.Client
}

// retryAttempts is how often the SDK tries one call before its error reaches the activity, whose
// own retries then take over until the stage's timeout: throttling never fails a stage sooner.
const retryAttempts = 10

// newClients builds the clients of a region: credentials from the SDK's default chain (through
// AssumeRole when the account names a role), the account's endpoint when it has one, the adaptive
// retryer (which slows down when AWS throttles) and the account's rate limit.
func newClients(ctx context.Context, a Account, region string) (*clients, error) {
	limit := a.RateLimit
	if limit <= 0 {
		limit = DefaultRateLimit
	}
	limiter := rate.NewLimiter(rate.Limit(limit), max(1, int(limit)))
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(region),
		config.WithRetryer(func() awssdk.Retryer {
			return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
				o.StandardOptions = append(o.StandardOptions, func(s *retry.StandardOptions) {
					s.MaxAttempts = retryAttempts
					s.MaxBackoff = 20 * time.Second
					// The standard retry quota gives up on a burst of errors at once; the
					// adaptive rate and the limiter below already pace the retries.
					s.RateLimiter = ratelimit.None
				})
			})
		}),
		config.WithAPIOptions([]func(*middleware.Stack) error{rateLimited(limiter)}),
	}
	if a.Endpoint != "" {
		opts = append(opts, config.WithBaseEndpoint(a.Endpoint))
	}
	if sc := a.StaticCredentials; sc != nil {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(sc.AccessKeyID, sc.SecretAccessKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("aws account %s: load credentials: %w", a.Name, err)
	}
	if a.AssumeRole != "" {
		provider := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), a.roleARN(), func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "gennaker"
			if a.ExternalID != "" {
				o.ExternalID = awssdk.String(a.ExternalID)
			}
		})
		cfg.Credentials = awssdk.NewCredentialsCache(provider)
	}
	return &clients{
		region: region,
		ec2:    ec2.NewFromConfig(cfg),
		asg:    autoscaling.NewFromConfig(cfg),
		elbv2:  elasticloadbalancingv2.NewFromConfig(cfg),
		elb:    elasticloadbalancing.NewFromConfig(cfg),
		ssm:    ssm.NewFromConfig(cfg),
	}, nil
}

// rateLimited makes every attempt of every call, retries included, wait for the limiter.
func rateLimited(limiter *rate.Limiter) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("gennakerRateLimit",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				if err := limiter.Wait(ctx); err != nil {
					return middleware.FinalizeOutput{}, middleware.Metadata{}, err
				}
				return next.HandleFinalize(ctx, in)
			}), middleware.After)
	}
}
