//go:build go1.23

package httpbatch

import (
	"encoding/json"
	"iter"
)

// Items is the walk's items for a range-over-func loop (Go 1.23):
//
//	for item, err := range walk.Items() {
//		if err != nil { … } // the walk stopped early: a *PageError or an *Error
//	}
//
// It reads with NextItem; an error is yielded once, last.
func (p *Paginator) Items() iter.Seq2[json.RawMessage, error] {
	return func(yield func(json.RawMessage, error) bool) {
		for p.NextItem() {
			if !yield(p.Item(), nil) {
				return
			}
		}
		if err := p.Err(); err != nil {
			yield(nil, err)
		}
	}
}

// Pages is the walk's pages for a range-over-func loop (Go 1.23), read with NextPage; an error
// is yielded once, last.
func (p *Paginator) Pages() iter.Seq2[Page, error] {
	return func(yield func(Page, error) bool) {
		for p.NextPage() {
			if !yield(p.Page(), nil) {
				return
			}
		}
		if err := p.Err(); err != nil {
			yield(Page{}, err)
		}
	}
}
