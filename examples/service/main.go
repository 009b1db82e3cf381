// Command service is a small Go service that talks to MySQL, PostgreSQL, Redis
// and a gRPC health endpoint. `make run` downloads its dependencies through
// `unstall go mod download`; every client below is built with explicit timeouts,
// the way `unstall check` will ask Go code to be written.
package main

import (
	"context"
	"database/sql"
	"log"
	"net/http"
	"os"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	mysqlDB, err := sql.Open("mysql", env("MYSQL_DSN", "app:app@tcp(127.0.0.1:3306)/app?timeout=3s&readTimeout=5s"))
	if err != nil {
		log.Fatal(err)
	}
	defer mysqlDB.Close()

	pgCfg, err := pgxpool.ParseConfig(env("PG_DSN", "postgres://app:app@127.0.0.1:5432/app?connect_timeout=3"))
	if err != nil {
		log.Fatal(err)
	}
	pg, err := pgxpool.NewWithConfig(ctx, pgCfg)
	if err != nil {
		log.Fatal(err)
	}
	defer pg.Close()

	rdb := redis.NewClient(&redis.Options{
		Addr:        env("REDIS_ADDR", "127.0.0.1:6379"),
		DialTimeout: 3 * time.Second,
		ReadTimeout: 2 * time.Second,
	})
	defer rdb.Close()

	conn, err := grpc.NewClient(env("GRPC_ADDR", "127.0.0.1:50051"),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	health := grpc_health_v1.NewHealthClient(conn)

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		rctx, rcancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer rcancel()
		checks := map[string]error{
			"mysql": mysqlDB.PingContext(rctx),
			"pg":    pg.Ping(rctx),
			"redis": rdb.Ping(rctx).Err(),
		}
		if _, err := health.Check(rctx, &grpc_health_v1.HealthCheckRequest{}); err != nil {
			checks["grpc"] = err
		}
		for name, err := range checks {
			if err != nil {
				http.Error(w, name+": "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	srv := &http.Server{Addr: env("ADDR", "127.0.0.1:8080"), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
