// Package itniotech is the client for Itniotech's account balance
// (getBalance, seed 001). Itniotech belongs to the same API family as
// Laaffic: signing, transport, errors and the answer's shape are
// vendors/signedapi's; only the base URL and the path are Itniotech's.
package itniotech

import (
	"context"
	"fmt"

	"relay/internal/vendors/signedapi"
)

// DefaultBaseURL is used when Config.BaseURL is empty.
const DefaultBaseURL = "https://api.itniotech.com"

// BalancePath is the documented getBalance path. The page's curl sample
// omits the /sms prefix; its request URL, Java, PHP and Python samples all
// have it, so the curl line is taken for a slip.
const BalancePath = "/sms/getBalance"

// Config is the family's configuration; BaseURL defaults to DefaultBaseURL.
type Config = signedapi.Config

// Balance is the family's getBalance answer.
type Balance = signedapi.Balance

// Client calls Itniotech. It is safe for concurrent use.
type Client struct {
	api *signedapi.Client
}

// New returns a Client; configuration errors surface from each call (see
// signedapi.New) so they can be checked at start with cfg.Validate.
func New(cfg Config) *Client {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	return &Client{api: signedapi.New(cfg)}
}

// GetBalance asks for the account's balances.
func (c *Client) GetBalance(ctx context.Context) (Balance, error) {
	b, err := c.api.GetBalance(ctx, BalancePath)
	if err != nil {
		return Balance{}, fmt.Errorf("itniotech: getBalance: %w", err)
	}
	return b, nil
}
