module httpbatch

go 1.21
