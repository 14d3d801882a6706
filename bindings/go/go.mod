module github.com/httpbatch/httpbatch/bindings/go

go 1.21
