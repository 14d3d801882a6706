package httpbatch

/*
#include "httpbatch.h"
*/
import "C"

import (
	"crypto/tls"
	"fmt"
	"unsafe"
)

// Net configures TLS and proxies for an Executor (Config.Net) or a Pool (PoolConfig.Net).
// The zero value verifies certificates against the built-in roots, presents no client
// certificate, accepts TLS 1.2 and later, and takes proxies from the environment as curl does
// (http_proxy, https_proxy/HTTPS_PROXY, all_proxy/ALL_PROXY, no_proxy/NO_PROXY).
type Net struct {
	// RootCAsPEM holds extra CA certificates (PEM), trusted besides the built-in roots.
	RootCAsPEM []byte
	// RootCAFile names a PEM file of extra CA certificates.
	RootCAFile string
	// NoBuiltinRoots stops trusting the built-in (Mozilla) roots: only the extra ones remain.
	NoBuiltinRoots bool
	// PlatformVerifier checks certificates with the operating system's verifier (needs the
	// library's platform-verifier feature).
	PlatformVerifier bool
	// A client certificate chain and its private key (mutual TLS), as PEM or as files.
	ClientCertPEM, ClientKeyPEM   []byte
	ClientCertFile, ClientKeyFile string
	// MinVersion is tls.VersionTLS12 or tls.VersionTLS13 (0: TLS 1.2).
	MinVersion uint16
	// InsecureSkipVerify turns certificate verification OFF: any certificate for any name is
	// accepted, so anyone on the path can read and change the traffic. Tests only.
	InsecureSkipVerify bool
	// Proxy sends every request through this proxy: http://[user:pass@]host[:port],
	// socks5://… (names resolved here) or socks5h://… (by the proxy). Empty: the environment's.
	Proxy string
	// NoProxy lists hosts reached directly: comma-separated names (subdomains included), IP
	// addresses, CIDR ranges, or "*". Replaces no_proxy from the environment.
	NoProxy string
	// IgnoreProxyEnvironment stops reading proxies from the environment.
	IgnoreProxyEnvironment bool
	// RawBodies turns content decoding off: bodies come as sent, Content-Encoding kept, and no
	// Accept-Encoding is sent unless AcceptEncoding sets one (curl without --compressed). By
	// default gzip, deflate and br bodies are decoded, the body limit applying to the decoded
	// size, and a decoded answer loses its Content-Encoding and Content-Length.
	RawBodies bool
	// AcceptEncoding replaces the Accept-Encoding sent by requests that set none. Empty: the
	// default ("gzip, deflate, br" when decoding, else none); NoAcceptEncoding sends none.
	AcceptEncoding string
	// NoAcceptEncoding sends no Accept-Encoding (unless a request sets one).
	NoAcceptEncoding bool
}

// bytesArg points C at b for the duration of a call (C copies it), as cstr does for text.
func bytesArg(b []byte) (*C.uint8_t, C.size_t) {
	if len(b) == 0 {
		return nil, 0
	}
	return (*C.uint8_t)(unsafe.Pointer(&b[0])), C.size_t(len(b))
}

// build makes the C options; the caller frees them with httpbatch_net_options_free.
func (n *Net) build() (*C.httpbatch_net_options, error) {
	var o *C.httpbatch_net_options
	if err := check(C.httpbatch_net_options_new(&o), nil); err != nil {
		return nil, err
	}
	last := func(buf *C.char, size C.size_t, out *C.size_t) C.httpbatch_result {
		return C.httpbatch_net_options_last_error(o, buf, size, out)
	}
	text := func(s string, f func(*C.char, C.size_t) C.httpbatch_result) C.httpbatch_result {
		p, l := cstr(s)
		return f(p, l)
	}
	var steps []func() C.httpbatch_result
	if len(n.RootCAsPEM) > 0 {
		steps = append(steps, func() C.httpbatch_result {
			p, l := bytesArg(n.RootCAsPEM)
			return C.httpbatch_net_options_add_root_certificates_pem(o, p, l)
		})
	}
	if n.RootCAFile != "" {
		steps = append(steps, func() C.httpbatch_result {
			return text(n.RootCAFile, func(p *C.char, l C.size_t) C.httpbatch_result {
				return C.httpbatch_net_options_add_root_certificates_file(o, p, l)
			})
		})
	}
	if n.NoBuiltinRoots {
		steps = append(steps, func() C.httpbatch_result { return C.httpbatch_net_options_set_builtin_roots(o, false) })
	}
	if n.PlatformVerifier {
		steps = append(steps, func() C.httpbatch_result { return C.httpbatch_net_options_set_platform_verifier(o, true) })
	}
	if len(n.ClientCertPEM) > 0 || len(n.ClientKeyPEM) > 0 {
		steps = append(steps, func() C.httpbatch_result {
			cp, cl := bytesArg(n.ClientCertPEM)
			kp, kl := bytesArg(n.ClientKeyPEM)
			return C.httpbatch_net_options_set_client_certificate_pem(o, cp, cl, kp, kl)
		})
	}
	if n.ClientCertFile != "" || n.ClientKeyFile != "" {
		steps = append(steps, func() C.httpbatch_result {
			cp, cl := cstr(n.ClientCertFile)
			kp, kl := cstr(n.ClientKeyFile)
			return C.httpbatch_net_options_set_client_certificate_files(o, cp, cl, kp, kl)
		})
	}
	switch n.MinVersion {
	case 0, tls.VersionTLS12:
	case tls.VersionTLS13:
		steps = append(steps, func() C.httpbatch_result {
			return C.httpbatch_net_options_set_min_tls_version(o, C.HTTPBATCH_TLS_1_3)
		})
	default:
		C.httpbatch_net_options_free(o)
		return nil, &Error{Code: CodeInvalidConfig, Message: fmt.Sprintf("unsupported MinVersion %#x", n.MinVersion)}
	}
	if n.InsecureSkipVerify {
		steps = append(steps, func() C.httpbatch_result {
			return C.httpbatch_net_options_set_danger_accept_invalid_certs(o, true)
		})
	}
	if n.IgnoreProxyEnvironment {
		steps = append(steps, func() C.httpbatch_result { return C.httpbatch_net_options_set_proxy_from_env(o, false) })
	}
	if n.Proxy != "" {
		steps = append(steps, func() C.httpbatch_result {
			return text(n.Proxy, func(p *C.char, l C.size_t) C.httpbatch_result {
				return C.httpbatch_net_options_set_proxy(o, p, l)
			})
		})
	}
	if n.NoProxy != "" {
		steps = append(steps, func() C.httpbatch_result {
			return text(n.NoProxy, func(p *C.char, l C.size_t) C.httpbatch_result {
				return C.httpbatch_net_options_set_no_proxy(o, p, l)
			})
		})
	}
	if n.RawBodies {
		steps = append(steps, func() C.httpbatch_result { return C.httpbatch_net_options_set_decompress(o, false) })
	}
	if n.AcceptEncoding != "" && n.NoAcceptEncoding {
		C.httpbatch_net_options_free(o)
		return nil, &Error{Code: CodeInvalidConfig, Message: "AcceptEncoding and NoAcceptEncoding are both set"}
	}
	if n.AcceptEncoding != "" || n.NoAcceptEncoding {
		steps = append(steps, func() C.httpbatch_result {
			return text(n.AcceptEncoding, func(p *C.char, l C.size_t) C.httpbatch_result {
				return C.httpbatch_net_options_set_accept_encoding(o, p, l)
			})
		})
	}
	for _, step := range steps {
		if err := check(step(), last); err != nil {
			C.httpbatch_net_options_free(o)
			return nil, err
		}
	}
	return o, nil
}
