package aws

import "relay/internal/vendors/confirm"

// exception is what relay knows of one error code AWS answers with.
type exception struct {
	outcome confirm.Outcome
	// meaning is AWS's own description, for an answer without a message.
	meaning string
}

// exceptions are PutMessageFeedback's documented errors (API reference,
// "Errors"), and the errors common to every AWS API that say our
// credentials or signature were refused, or that the service is busy
// (the "Common Errors" pages). The common ones appear with and without the
// "Exception" suffix across AWS's pages and answers, so both are listed.
var exceptions = map[string]exception{
	// PutMessageFeedback's own errors.
	"ValidationException":       {confirm.Permanent, "a validation exception for a field"},
	"ResourceNotFoundException": {confirm.Permanent, "a requested resource couldn't be found"},
	"ThrottlingException":       {confirm.Transient, "too many requests were sent during a certain amount of time"},
	"InternalServerException":   {confirm.Transient, "the API encountered an unexpected error and couldn't complete the request"},
	// AccessDeniedException's reasons (ACCOUNT_DISABLED,
	// INSUFFICIENT_ACCOUNT_REPUTATION) are account-wide: the operator acts.
	"AccessDeniedException": {confirm.Credentials, "the request was denied because you don't have sufficient permissions to access the resource"},

	// Common errors: our credentials or signature.
	"UnrecognizedClientException":         {confirm.Credentials, "the access key ID or security token is invalid"},
	"InvalidSignatureException":           {confirm.Credentials, "the request signature does not match the one AWS calculated"},
	"ExpiredTokenException":               {confirm.Credentials, "the security token included in the request is expired"},
	"IncompleteSignature":                 {confirm.Credentials, "the request signature does not conform to AWS standards"},
	"IncompleteSignatureException":        {confirm.Credentials, "the request signature does not conform to AWS standards"},
	"InvalidClientTokenId":                {confirm.Credentials, "the access key ID provided does not exist in AWS's records"},
	"MissingAuthenticationToken":          {confirm.Credentials, "the request must contain a valid access key ID"},
	"MissingAuthenticationTokenException": {confirm.Credentials, "the request must contain a valid access key ID"},
	"NotAuthorized":                       {confirm.Credentials, "you do not have permission to perform this action"},
	"OptInRequired":                       {confirm.Credentials, "the access key ID needs a subscription for the service"},

	// Common errors: the service, not the event.
	"InternalFailure":    {confirm.Transient, "the request processing failed because of an unknown error"},
	"ServiceUnavailable": {confirm.Transient, "the request failed due to a temporary failure of the server"},
}

// Classify is the Outcome of an error code AWS answered with. A code AWS
// does not document for this call is Transient: it is retried, and kept,
// until relay's attempts run out, as for any vendor's unknown code.
func Classify(code string) confirm.Outcome {
	if e, ok := exceptions[code]; ok {
		return e.outcome
	}
	return confirm.Transient
}

// Meaning is AWS's description of code, "" for one it does not document.
func Meaning(code string) string { return exceptions[code].meaning }
