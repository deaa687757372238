package adminapi

import (
	"net/http"
	"strings"
)

// target is what a request path names: one object (key set), or a directory to list.
type target struct {
	res *resource
	// id is the object's id from the path ("1"; "vault/1" for a secret); "" for a directory.
	id string
	// key is the object's etcd key, "" for a directory.
	key string
	// dir is the directory's etcd key, ending in "/" ("/apisix/routes/",
	// "/apisix/consumers/jack/credentials/").
	dir string
	// consumer is the username a credential belongs to.
	consumer string
	// sub is a PATCH sub-path ("/methods"), "" for the whole object.
	sub string
}

// parseTarget splits the path under /apisix/admin/ into a target, refusing what APISIX refuses:
// an unknown type, a method the type does not support.
func (h *Handler) parseTarget(rest, method string) (target, error) {
	segs := strings.Split(rest, "/")
	res := resources[segs[0]]
	if res == nil || segs[0] == "credentials" {
		return target{}, errorf(http.StatusNotFound, "Unsupported resource type: %s", segs[0])
	}
	t := target{res: res}
	base := h.o.Prefix + "/" + res.dir + "/"
	switch {
	case segs[0] == "consumers" && len(segs) >= 3:
		if segs[2] != "credentials" || len(segs) > 4 || segs[1] == "" {
			return target{}, errorf(http.StatusNotFound, "Unsupported resource type: %s", rest)
		}
		t.res = resources["credentials"]
		t.consumer = segs[1]
		t.dir = base + segs[1] + "/credentials/"
		if len(segs) == 4 {
			t.id = segs[3]
		}
	case segs[0] == "secrets":
		t.dir = base
		switch len(segs) {
		case 1:
		case 3:
			t.id = segs[1] + "/" + segs[2]
		default:
			return target{}, errorf(http.StatusBadRequest, "invalid secret id: %s", strings.Join(segs[1:], "/"))
		}
		if t.id != "" && !secretManagers[segs[1]] {
			return target{}, errorf(http.StatusBadRequest, "invalid secret manager: %s", segs[1])
		}
	default:
		t.dir = base
		if len(segs) > 1 {
			t.id = segs[1]
		}
		if len(segs) > 2 {
			if method != http.MethodPatch {
				return target{}, errorf(http.StatusNotFound, "Unsupported resource type: %s", rest)
			}
			t.sub = "/" + strings.Join(segs[2:], "/")
		}
	}
	if t.id != "" {
		t.key = t.dir + t.id
	}
	switch {
	case method == http.MethodPost && !t.res.post:
		return target{}, errorf(http.StatusMethodNotAllowed, "not supported `POST` method for %s", t.res.kind)
	case method == http.MethodPatch && !t.res.patch:
		return target{}, errorf(http.StatusMethodNotAllowed, "not supported `PATCH` method for %s", t.res.kind)
	}
	return t, nil
}
