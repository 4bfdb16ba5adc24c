package transport_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"mime/multipart"
	"net/textproto"
	"strconv"
	"testing"

	"edgelab/transport"
)

// The framing's cost against mime/multipart's, encode and decode of one
// batch of 64 segments of 64 B, in memory (no HTTP, no TLS): what the
// choice of a length-prefixed body saves per segment (DESIGN.md §7,
// "Batched transfer").
//
//	go test -run '^$' -bench BatchFraming -benchmem ./transport
const benchSegs, benchSize = 64, 64

func benchIDs() []string {
	ids := make([]string, benchSegs)
	for i := range ids {
		ids[i] = "b-" + strconv.Itoa(1000000+i)
	}
	return ids
}

func BenchmarkBatchFraming_LengthPrefixed(b *testing.B) {
	ids, payload := benchIDs(), bytes.Repeat([]byte{'x'}, benchSize)
	b.ReportAllocs()
	for b.Loop() {
		var body []byte
		for _, id := range ids {
			body = transport.AppendBatchRecord(body, id, benchSize)
			body = append(body, payload...)
		}
		br := bufio.NewReaderSize(bytes.NewReader(body), 4<<10)
		for range ids {
			n, _ := binary.ReadUvarint(br)
			id := make([]byte, n)
			io.ReadFull(br, id)
			size, _ := binary.ReadUvarint(br)
			p := make([]byte, size)
			if _, err := io.ReadFull(br, p); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchSegs), "ns/segment")
}

func BenchmarkBatchFraming_Multipart(b *testing.B) {
	ids, payload := benchIDs(), bytes.Repeat([]byte{'x'}, benchSize)
	b.ReportAllocs()
	for b.Loop() {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		for _, id := range ids {
			h := textproto.MIMEHeader{}
			h.Set("Edge-Segment-Id", id)
			h.Set("Content-Length", strconv.Itoa(benchSize))
			pw, _ := w.CreatePart(h)
			pw.Write(payload)
		}
		w.Close()
		r := multipart.NewReader(&buf, w.Boundary())
		for range ids {
			part, err := r.NextPart()
			if err != nil {
				b.Fatal(err)
			}
			_ = part.Header.Get("Edge-Segment-Id")
			n, _ := strconv.Atoi(part.Header.Get("Content-Length"))
			p := make([]byte, n)
			if _, err := io.ReadFull(part, p); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchSegs), "ns/segment")
}
