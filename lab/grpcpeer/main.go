// Command grpcpeer is the lab's real gRPC peer (grpc-go): a server with
// the standard health service, and a client that calls it. It lives in
// its own module so the agent's module does not depend on gRPC.
//
//	grpcpeer serve ADDR...             health service; "ok" is SERVING, a check of
//	                                   "slow" answers after 10 s, a watch of "quiet"
//	                                   sends nothing
//	grpcpeer slow ADDR TIMEOUT         checks "slow" with a deadline (DEADLINE_EXCEEDED:
//	                                   the client cancels the call with RST_STREAM)
//	grpcpeer check ADDR SERVICE [N]    Health/Check N times over one connection
//	                                   (an unknown service: NOT_FOUND)
//	grpcpeer missing ADDR              a method the server does not have (UNIMPLEMENTED)
//	grpcpeer watch ADDR AFTER          Health/Watch of "quiet" (the server sends
//	                                   nothing, not even headers) without a
//	                                   deadline, cancelled by the application
//	                                   after AFTER: a subscription torn down,
//	                                   not a call left waiting
//	grpcpeer pinger ADDR               one check, then idle 35 s with keepalive pings
//	                                   every 10 s, which the server's default
//	                                   policy (5 min) answers with GOAWAY
//	                                   ENHANCE_YOUR_CALM "too_many_pings"
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: grpcpeer serve|check|missing ADDR [SERVICE]")
		os.Exit(2)
	}
	addr := os.Args[2]
	switch os.Args[1] {
	case "serve":
		s := grpc.NewServer()
		h := health.NewServer()
		h.SetServingStatus("ok", healthpb.HealthCheckResponse_SERVING)
		healthpb.RegisterHealthServer(s, slowHealth{h})
		errs := make(chan error)
		for _, a := range os.Args[2:] {
			l, err := net.Listen("tcp", a)
			if err != nil {
				fmt.Fprintln(os.Stderr, "grpcpeer:", err)
				os.Exit(1)
			}
			go func() { errs <- s.Serve(l) }()
		}
		fmt.Fprintln(os.Stderr, "grpcpeer:", <-errs)
		os.Exit(1)
	case "check", "missing", "slow", "pinger", "watch":
		opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
		if os.Args[1] == "pinger" {
			opts = append(opts, grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}))
		}
		conn, err := grpc.NewClient(addr, opts...)
		if err != nil {
			fmt.Fprintln(os.Stderr, "grpcpeer:", err)
			os.Exit(1)
		}
		defer conn.Close()
		timeout := 5 * time.Second
		if os.Args[1] == "slow" && len(os.Args) > 3 {
			if d, err := time.ParseDuration(os.Args[3]); err == nil {
				timeout = d
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if os.Args[1] == "watch" {
			after := time.Second
			if len(os.Args) > 3 {
				if d, err := time.ParseDuration(os.Args[3]); err == nil {
					after = d
				}
			}
			wctx, wcancel := context.WithCancel(context.Background()) // no deadline
			st, werr := healthpb.NewHealthClient(conn).Watch(wctx, &healthpb.HealthCheckRequest{Service: "quiet"})
			if werr == nil {
				time.AfterFunc(after, wcancel)
				_, werr = st.Recv()
			}
			wcancel()
			time.Sleep(200 * time.Millisecond) // the cancellation is sent
			if status.Code(werr) != codes.Canceled {
				err = werr
			}
		} else if os.Args[1] == "pinger" {
			_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "ok"})
			time.Sleep(35 * time.Second)
		} else if os.Args[1] == "slow" {
			_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "slow"})
			// Keep the connection a moment: the cancellation is sent.
			time.Sleep(200 * time.Millisecond)
		} else if os.Args[1] == "missing" {
			err = conn.Invoke(ctx, "/lab.Missing/Call", &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{})
		} else {
			svc, n := "", 1
			if len(os.Args) > 3 {
				svc = os.Args[3]
			}
			if len(os.Args) > 4 {
				fmt.Sscan(os.Args[4], &n)
			}
			for i := 0; i < min(n, 100); i++ {
				var r *healthpb.HealthCheckResponse
				r, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
				if err == nil {
					fmt.Println(r.GetStatus())
				} else if i < n-1 {
					fmt.Println(status.Code(err), status.Convert(err).Message())
				}
			}
		}
		// Let the server's last frames (its PING, WINDOW_UPDATE) be read
		// before closing, or the kernel answers them with a reset.
		time.Sleep(100 * time.Millisecond)
		conn.Close()
		if err != nil {
			fmt.Println(status.Code(err), status.Convert(err).Message())
			os.Exit(3)
		}
	default:
		fmt.Fprintln(os.Stderr, "usage: grpcpeer serve|check|missing ADDR [SERVICE]")
		os.Exit(2)
	}
}

// slowHealth answers a check of service "slow" after 10 s (or when the
// call is cancelled): a server that hangs.
type slowHealth struct{ *health.Server }

func (s slowHealth) Check(ctx context.Context, r *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if r.GetService() == "slow" {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Second):
		}
		return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
	}
	return s.Server.Check(ctx, r)
}

// Watch of service "quiet" sends nothing until the call ends: a
// subscription with no news yet.
func (s slowHealth) Watch(r *healthpb.HealthCheckRequest, st healthpb.Health_WatchServer) error {
	if r.GetService() == "quiet" {
		<-st.Context().Done()
		return st.Context().Err()
	}
	return s.Server.Watch(r, st)
}
