package router

// methodList is APISIX's method enum, in lua-resty-radixtree's bit order.
const methodList = "GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, CONNECT, TRACE, PURGE"

// methodName returns the method of bit i (0..9).
func methodName(i int) string {
	return [...]string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "PURGE"}[i]
}

// methodBit returns the bit of an APISIX method, 0 for any other (a route
// restricted to methods never matches a request with such a method).
func methodBit(m []byte) uint16 {
	switch string(m) {
	case "GET":
		return 1 << 0
	case "POST":
		return 1 << 1
	case "PUT":
		return 1 << 2
	case "DELETE":
		return 1 << 3
	case "PATCH":
		return 1 << 4
	case "HEAD":
		return 1 << 5
	case "OPTIONS":
		return 1 << 6
	case "CONNECT":
		return 1 << 7
	case "TRACE":
		return 1 << 8
	case "PURGE":
		return 1 << 9
	}
	return 0
}
