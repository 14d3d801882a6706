package httpbatch

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// pki is a private CA with a server and a client certificate, generated per test run.
type pki struct {
	caPEM         []byte
	caPool        *x509.CertPool
	server        tls.Certificate
	clientCertPEM []byte
	clientKeyPEM  []byte
	clientPair    tls.Certificate
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "httpbatch go test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(err)
	caCert, err := x509.ParseCertificate(caDER)
	must(err)
	leaf := func(serial int64, usage x509.ExtKeyUsage) ([]byte, []byte, tls.Certificate) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: "leaf"},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		must(err)
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		must(err)
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		must(err)
		return certPEM, keyPEM, pair
	}
	p := &pki{caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), caPool: x509.NewCertPool()}
	p.caPool.AddCert(caCert)
	_, _, p.server = leaf(2, x509.ExtKeyUsageServerAuth)
	p.clientCertPEM, p.clientKeyPEM, p.clientPair = leaf(3, x509.ExtKeyUsageClientAuth)
	return p
}

func tlsServer(t *testing.T, p *pki, requireClientCert bool) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}}
	if requireClientCert {
		srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
		srv.TLS.ClientCAs = p.caPool
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func getOne(t *testing.T, ex *Executor, url string) Item {
	t.Helper()
	res, err := ex.Execute(context.Background(), []Request{{URL: url}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	it, err := res.Item(0)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

var errTLS = &Error{Code: CodeTLS}

func TestTLSOptions(t *testing.T) {
	p := newPKI(t)
	srv := tlsServer(t, p, false)
	noEnv := Net{IgnoreProxyEnvironment: true}

	plain := noEnv
	if it := getOne(t, newExecutor(t, Config{Workers: 1, Net: &plain}), srv.URL); !errors.Is(it.Err, errTLS) {
		t.Fatalf("unknown issuer: %v", it.Err)
	}
	trusting := noEnv
	trusting.RootCAsPEM = p.caPEM
	trusting.MinVersion = tls.VersionTLS13
	if it := getOne(t, newExecutor(t, Config{Workers: 1, Net: &trusting}), srv.URL); it.Status != 200 || string(it.Body) != "ok" {
		t.Fatalf("with the CA: %+v", it)
	}
	insecure := noEnv
	insecure.InsecureSkipVerify = true
	if it := getOne(t, newExecutor(t, Config{Workers: 1, Net: &insecure}), srv.URL); it.Status != 200 {
		t.Fatalf("insecure: %+v", it)
	}
	if _, err := NewExecutor(Config{Net: &Net{RootCAsPEM: []byte("junk")}}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("junk PEM: %v", err)
	}
	if _, err := NewExecutor(Config{Net: &Net{MinVersion: tls.VersionTLS10}}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("TLS 1.0: %v", err)
	}
}

func TestMutualTLS(t *testing.T) {
	p := newPKI(t)
	srv := tlsServer(t, p, true)
	without := Net{IgnoreProxyEnvironment: true, RootCAsPEM: p.caPEM}
	if it := getOne(t, newExecutor(t, Config{Workers: 1, Net: &without}), srv.URL); !errors.Is(it.Err, errTLS) {
		t.Fatalf("without a client certificate: %v", it.Err)
	}
	with := without
	with.ClientCertPEM, with.ClientKeyPEM = p.clientCertPEM, p.clientKeyPEM
	if it := getOne(t, newExecutor(t, Config{Workers: 1, Net: &with}), srv.URL); it.Status != 200 {
		t.Fatalf("with a client certificate: %+v", it)
	}
}

// A forward proxy that answers itself, echoing the request line and the proxy credentials.
func fakeProxy(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Proxied-Uri", r.RequestURI)
		w.Header().Set("X-Proxy-Auth", r.Header.Get("Proxy-Authorization"))
		w.Write([]byte("from proxy"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestProxyOptions(t *testing.T) {
	proxy := fakeProxy(t)
	target := startServer(t)
	url := target.URL("/ok")
	opts := Net{IgnoreProxyEnvironment: true, Proxy: "http://user:pw@" + proxy.Listener.Addr().String()}

	it := getOne(t, newExecutor(t, Config{Workers: 1, Net: &opts}), url)
	if it.Status != 200 || it.HeaderValue("X-Proxied-Uri") != url || it.HeaderValue("X-Proxy-Auth") != "Basic dXNlcjpwdw==" {
		t.Fatalf("through the proxy: %d %v", it.Status, it.Header())
	}

	pool, err := NewPool(PoolConfig{Net: &opts})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	it = getOne(t, newExecutor(t, Config{Workers: 1, Pool: pool}), url)
	if it.HeaderValue("X-Proxied-Uri") != url {
		t.Fatalf("pool through the proxy: %v", it.Header())
	}

	direct := opts
	direct.NoProxy = "localhost,127.0.0.0/8"
	it = getOne(t, newExecutor(t, Config{Workers: 1, Net: &direct}), url)
	if it.Status != 200 || it.HeaderValue("X-Proxied-Uri") != "" {
		t.Fatalf("no-proxy: %d %v", it.Status, it.Header())
	}

	if _, err := NewPool(PoolConfig{Net: &Net{Proxy: "ftp://nope:1"}}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("bad proxy: %v", err)
	}
}

func TestDecodeOptions(t *testing.T) {
	target := startServer(t)
	gz, echo := target.URL("/encoded/gzip"), target.URL("/echo")
	get := func(opts Net, url string) Item {
		opts.IgnoreProxyEnvironment = true
		return getOne(t, newExecutor(t, Config{Workers: 1, Net: &opts}), url)
	}

	// Decoded by default: the text, without Content-Encoding; the default Accept-Encoding.
	if it := get(Net{}, gz); it.Status != 200 || len(it.Body) != 900 || it.HeaderValue("Content-Encoding") != "" {
		t.Fatalf("decoded: %d, %d bytes, %v", it.Status, len(it.Body), it.Header())
	}
	sent := func(opts Net) string {
		it := get(opts, echo)
		return it.HeaderValue("X-Echo-H-Accept-Encoding")
	}
	if ae := sent(Net{}); ae != "gzip, deflate, br" {
		t.Fatalf("default Accept-Encoding: %q", ae)
	}

	// Raw: the body as sent, Content-Encoding kept, no Accept-Encoding unless set.
	if it := get(Net{RawBodies: true}, gz); it.HeaderValue("Content-Encoding") != "gzip" || len(it.Body) == 900 {
		t.Fatalf("raw: %d bytes, %v", len(it.Body), it.Header())
	}
	if ae := sent(Net{RawBodies: true}); ae != "" {
		t.Fatalf("raw sends Accept-Encoding %q", ae)
	}
	if ae := sent(Net{RawBodies: true, AcceptEncoding: "br"}); ae != "br" {
		t.Fatalf("AcceptEncoding: %q", ae)
	}
	if ae := sent(Net{NoAcceptEncoding: true}); ae != "" {
		t.Fatalf("NoAcceptEncoding sends %q", ae)
	}

	for _, bad := range []Net{{AcceptEncoding: "gzip\r\nx: 1"}, {AcceptEncoding: "gzip", NoAcceptEncoding: true}} {
		if _, err := NewExecutor(Config{Workers: 1, Net: &bad}); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("%+v: %v", bad, err)
		}
	}
}
