// Package console is the operator console: plain HTML, CSS and JavaScript
// embedded in the binary (no build step, no CDN), served by inbound under
// /admin/. The pages hold no data: the browser fetches it from /admin/v1
// with the admin token the operator types in, kept in sessionStorage.
package console

import (
	"embed"
	"io/fs"
	"path"
)

//go:embed index.html assets
var files embed.FS

// Index is the console page.
func Index() []byte {
	b, _ := files.ReadFile("index.html")
	return b
}

// Asset returns the file name under assets/ and its content type; ok is
// false for a file that does not exist (or a name that escapes assets/:
// embed.FS refuses "..").
func Asset(name string) (body []byte, contentType string, ok bool) {
	if !fs.ValidPath(name) || name == "." {
		return nil, "", false
	}
	b, err := files.ReadFile(path.Join("assets", name))
	if err != nil {
		return nil, "", false
	}
	ctype, known := contentTypes[path.Ext(name)]
	if !known {
		ctype = "application/octet-stream"
	}
	return b, ctype, true
}

// contentTypes is fixed here rather than read from the system's MIME
// table, which differs between machines: the console's CSP and nosniff
// header need the right types.
var contentTypes = map[string]string{
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".json": "application/json",
}
