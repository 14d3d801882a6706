package httpbatch

/*
#include "httpbatch.h"
*/
import "C"

// SharedLimiter is a rate limiter shared with other processes, set as Config.SharedLimiter:
// with the library built with the redis feature and -tags httpbatch_redis, a *RedisLimiter
// (redis.go). Every request the executor sends on the wire then takes a slot of the shared
// limit, after the local Limiter's token when there is one.
type SharedLimiter interface {
	attach(b *C.httpbatch_executor_builder, set func(C.httpbatch_result) error) error
}
