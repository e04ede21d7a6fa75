package vonage_test

import (
	"context"
	"fmt"
	"time"

	"relay/internal/vendors/confirm"
	"relay/internal/vendors/vonage"
	"relay/internal/vendors/vonage/vonagetest"
)

// Confirm tells Vonage that an SMS converted. Vonage answers a success, and
// a repeat, with 200; an account without conversion enabled is answered
// 402, which pauses the vendor until Vonage's support enables it.
func ExampleClient_Confirm() {
	fake := vonagetest.Start(vonagetest.Options{APIKey: "a1b2c3d4", APISecret: "s3cr3tValue1234"})
	defer fake.Close()

	client := vonage.New(vonage.Config{
		BaseURL:   fake.URL(), // https://api.nexmo.com in production
		APIKey:    "a1b2c3d4",
		APISecret: "s3cr3tValue1234",
	})
	conv := confirm.Conversion{MessageID: "0A0000000123ABCD1", At: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	for _, status := range []int{0, 402} {
		if status != 0 {
			fake.Status(conv.MessageID, status)
		}
		a, err := client.Confirm(context.Background(), conv)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Printf("%s %s: %s\n", a.Outcome, a.Status, a.Meaning)
	}
	// Output:
	// confirmed HTTP 200: conversion recorded
	// credentials HTTP 402: conversion is not enabled for this account (Vonage support enables it): Conversion has not been enabled for your account
}
