package proxy

import (
	"strconv"

	"github.com/valyala/fasthttp"
)

// notFoundBody is APISIX's answer when no route matches, byte for byte.
const notFoundBody = `{"error_msg":"404 Route Not Found"}` + "\n"

// statusText is nginx's wording of the statuses the proxy produces itself (APISIX answers with
// nginx's error pages).
func statusText(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 405:
		return "Not Allowed"
	case 408:
		return "Request Time-out"
	case 413:
		return "Request Entity Too Large"
	case 414:
		return "Request-URI Too Large"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Temporarily Unavailable"
	case 501:
		return "Not Implemented"
	case 504:
		return "Gateway Time-out"
	case 505:
		return "HTTP Version Not Supported"
	}
	return fasthttp.StatusMessage(code)
}

// errorPages are prebuilt nginx-style HTML error bodies: small, and never an internal detail.
var errorPages = func() map[int][]byte {
	m := map[int][]byte{}
	for _, code := range []int{301, 302, 303, 307, 308, 400, 404, 405, 408, 413, 414, 431, 500, 501, 502, 503, 504, 505} {
		title := strconv.Itoa(code) + " " + statusText(code)
		m[code] = []byte("<html>\n<head><title>" + title + "</title></head>\n<body>\n<center><h1>" +
			title + "</h1></center>\n<hr><center>zoneproxy</center>\n</body>\n</html>\n")
	}
	return m
}()

// writeError answers with an nginx-style error page.
func writeError(ctx *fasthttp.RequestCtx, code int) {
	ctx.Response.Reset()
	ctx.SetStatusCode(code)
	ctx.SetContentType("text/html; charset=utf-8")
	if body, ok := errorPages[code]; ok {
		ctx.SetBody(body)
		return
	}
	ctx.SetBodyString(strconv.Itoa(code) + " " + statusText(code) + "\n")
}

func writeNotFound(ctx *fasthttp.RequestCtx) {
	ctx.Response.Reset()
	ctx.SetStatusCode(fasthttp.StatusNotFound)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(notFoundBody)
}
