package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config names a bucket and where to reach it.
type S3Config struct {
	Endpoint  string // http://host:port or https://host; empty: AWS S3
	Region    string
	Bucket    string
	Prefix    string // keys are stored as Prefix + key
	AccessKey string // empty: AWS_ACCESS_KEY_ID
	SecretKey string // empty: AWS_SECRET_ACCESS_KEY
	// PartSize is the multipart upload's part size, the memory one upload
	// holds (default 16 MiB; 10,000 parts make 160 GiB at most).
	PartSize uint64
}

// S3ConfigFromURL reads s3://bucket/prefix?endpoint=...&region=....
func S3ConfigFromURL(u *url.URL) S3Config {
	q := u.Query()
	return S3Config{Endpoint: q.Get("endpoint"), Region: q.Get("region"), Bucket: u.Host,
		Prefix: strings.TrimPrefix(u.Path, "/")}
}

// S3 keeps artifacts as objects of an S3-compatible bucket. Uploads of
// unknown length go up as multipart uploads, one part in memory at a
// time; a failed upload is aborted, so nothing half-written is visible.
type S3 struct {
	cfg    S3Config
	client *minio.Client
}

var _ Blobs = (*S3)(nil)

// OpenS3 connects and checks the bucket, creating it when missing.
func OpenS3(ctx context.Context, cfg S3Config) (*S3, error) {
	s, err := NewS3(cfg)
	if err != nil {
		return nil, err
	}
	ok, err := s.client.BucketExists(ctx, s.cfg.Bucket)
	if err != nil {
		return nil, s.fail("check bucket", err)
	}
	if !ok {
		if err := s.client.MakeBucket(ctx, s.cfg.Bucket, minio.MakeBucketOptions{Region: s.cfg.Region}); err != nil {
			return nil, s.fail("create bucket", err)
		}
	}
	return s, nil
}

// NewS3 makes the client without reaching the service.
func NewS3(cfg S3Config) (*S3, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("artifact store s3: no bucket: write s3://BUCKET/prefix?endpoint=http://host:port")
	}
	if cfg.AccessKey == "" {
		cfg.AccessKey = os.Getenv("AWS_ACCESS_KEY_ID")
	}
	if cfg.SecretKey == "" {
		cfg.SecretKey = os.Getenv("AWS_SECRET_ACCESS_KEY")
	}
	if cfg.Region == "" {
		cfg.Region = os.Getenv("AWS_REGION")
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = 16 << 20
	}
	if cfg.Prefix != "" && !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}
	host, secure, lookup := "s3.amazonaws.com", true, minio.BucketLookupAuto
	if cfg.Endpoint != "" {
		lookup = minio.BucketLookupPath
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("artifact store s3: endpoint %q: write http://host:port or https://host", cfg.Endpoint)
		}
		host, secure = u.Host, u.Scheme == "https"
	}
	client, err := minio.New(host, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, os.Getenv("AWS_SESSION_TOKEN")),
		Secure: secure,
		Region: cfg.Region,
		// Fail fast when the store is down: the client retries the upload.
		MaxRetries: 3,
		// Path-style requests work with every S3-compatible service.
		BucketLookup: lookup,
	})
	if err != nil {
		return nil, fmt.Errorf("artifact store s3 %s: %w", host, err)
	}
	return &S3{cfg: cfg, client: client}, nil
}

func (s *S3) String() string {
	return fmt.Sprintf("s3 bucket %s (%s) prefix %q", s.cfg.Bucket, s.client.EndpointURL().Host, s.cfg.Prefix)
}

// Put streams r up as a multipart upload.
func (s *S3) Put(ctx context.Context, key string, r io.Reader) error {
	_, err := s.client.PutObject(ctx, s.cfg.Bucket, s.cfg.Prefix+key, ctxReader{ctx, r}, -1, minio.PutObjectOptions{
		PartSize: s.cfg.PartSize, ContentType: "application/octet-stream", DisableContentSha256: true,
	})
	if err != nil {
		var se storeWriteError
		if errors.As(err, &se) {
			return se.err
		}
		return s.fail("put "+key, err)
	}
	return nil
}

// Get opens the object, ranged when off or n ask for part of it.
func (s *S3) Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	opts := minio.GetObjectOptions{}
	switch {
	case n == 0:
		return io.NopCloser(strings.NewReader("")), nil
	case n > 0:
		if err := opts.SetRange(off, off+n-1); err != nil {
			return nil, err
		}
	case off > 0:
		if err := opts.SetRange(off, 0); err != nil {
			return nil, err
		}
	}
	obj, err := s.client.GetObject(ctx, s.cfg.Bucket, s.cfg.Prefix+key, opts)
	if err != nil {
		return nil, s.fail("get "+key, err)
	}
	// GetObject is lazy: read its head now so a missing object or a store
	// down is an error here, not in the middle of an answer.
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		return nil, s.fail("get "+key, err)
	}
	return obj, nil
}

// Delete removes the object.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := s.client.RemoveObject(ctx, s.cfg.Bucket, s.cfg.Prefix+key, minio.RemoveObjectOptions{}); err != nil {
		if errors.Is(s.fail("", err), ErrNotFound) {
			return nil
		}
		return s.fail("delete "+key, err)
	}
	return nil
}

// fail classifies an S3 error: missing → ErrNotFound; unreachable or 5xx
// → ErrUnavailable.
func (s *S3) fail(op string, err error) error {
	resp := minio.ToErrorResponse(err)
	var ne net.Error
	var ue *url.Error
	switch {
	case resp.Code == "NoSuchKey" || resp.StatusCode == http.StatusNotFound && resp.Code != "NoSuchBucket":
		return fmt.Errorf("%s: %s: %w", s, op, ErrNotFound)
	case errors.As(err, &ne), errors.As(err, &ue), resp.StatusCode >= 500, resp.StatusCode == 0 && resp.Code == "":
		return fmt.Errorf("%s: %s: %w (%v)", s, op, ErrUnavailable, err)
	case resp.Code == "EntityTooLarge" || resp.Code == "QuotaExceeded":
		return fmt.Errorf("%s: %s: %w (%v)", s, op, ErrNoSpace, err)
	}
	return fmt.Errorf("%s: %s: %w", s, op, err)
}
