// Command kafkapeer is the lab's Kafka peer: a broker (franz-go's kfake, a
// Kafka implementation in Go, since no Kafka runs here) and a client
// (franz-go's kgo), to stage the failures dlltagent reads in Kafka's
// answers. Its own module, so the agent's does not depend on franz-go.
//
//	kafkapeer serve ADDR
//	kafkapeer serve-open ADDR
//	kafkapeer produce ADDR USER PASS MECHANISM TOPIC SIZE
//	kafkapeer consume ADDR USER PASS TOPIC GROUP
package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: kafkapeer serve|produce|consume ADDR ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2], true)
	case "serve-open":
		err = serve(os.Args[2], false)
	case "produce":
		if len(os.Args) != 8 {
			err = fmt.Errorf("produce ADDR USER PASS MECHANISM TOPIC SIZE")
			break
		}
		size, _ := strconv.Atoi(os.Args[7])
		err = produce(os.Args[2], os.Args[3], os.Args[4], os.Args[5], os.Args[6], size)
	case "consume":
		if len(os.Args) != 7 {
			err = fmt.Errorf("consume ADDR USER PASS TOPIC GROUP")
			break
		}
		err = consume(os.Args[2], os.Args[3], os.Args[4], os.Args[5], os.Args[6])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kafkapeer:", err)
		os.Exit(1)
	}
}

// serve runs one broker at addr. With auth: SASL (PLAIN and SCRAM-SHA-256)
// with ACLs; admin/admin is a superuser; app/secret (PLAIN) may write and
// describe topic orders and read it in group app-group, nothing else
// (kfake's SASL speaks only to clients that ignore its SaslHandshake
// answer's empty mechanism list, as franz-go does: kafkajs and librdkafka
// give up). Without: anyone may do anything. Topics orders and audit
// exist; others are not created on first use. Batches over 100 kB are
// refused (message.max.bytes).
func serve(addr string, auth bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	p, _ := strconv.Atoi(port)
	allow := func(res kmsg.ACLResourceType, name string, op kmsg.ACLOperation) kfake.ACL {
		return kfake.ACL{Resource: res, Name: name, Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: op, Allow: true}
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(p),
		kfake.ListenFn(func(network, a string) (net.Listener, error) {
			_, pp, _ := net.SplitHostPort(a)
			return net.Listen(network, net.JoinHostPort(host, pp))
		}),
		kfake.SeedTopics(1, "orders", "audit"),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": "100000"}),
	}
	if auth {
		opts = append(opts, kfake.EnableSASL(),
			kfake.EnableACLs(),
			kfake.Superuser("PLAIN", "admin", "admin"),
			kfake.Superuser("SCRAM-SHA-256", "admin", "admin"),
			kfake.User("PLAIN", "app", "secret",
				allow(kmsg.ACLResourceTypeTopic, "orders", kmsg.ACLOperationWrite),
				allow(kmsg.ACLResourceTypeTopic, "orders", kmsg.ACLOperationDescribe),
				allow(kmsg.ACLResourceTypeTopic, "orders", kmsg.ACLOperationRead),
				allow(kmsg.ACLResourceTypeGroup, "app-group", kmsg.ACLOperationRead),
				allow(kmsg.ACLResourceTypeCluster, "kafka-cluster", kmsg.ACLOperationIdempotentWrite),
			))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Println("kafkapeer: serving", c.ListenAddrs())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	return nil
}

func client(addr, user, pass, mech string, extra ...kgo.Opt) (*kgo.Client, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.ClientID("kafkapeer"), kgo.RequestRetries(1), kgo.RetryTimeout(3 * time.Second)}
	switch mech {
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()))
	}
	return kgo.NewClient(append(opts, extra...)...)
}

// produce writes one record of size bytes to topic and says what the
// broker answered.
func produce(addr, user, pass, mech, topic string, size int) error {
	cl, err := client(addr, user, pass, mech, kgo.ProducerBatchMaxBytes(1<<21))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	v := make([]byte, size)
	rand.Read(v) // incompressible: the batch is as large as asked
	res := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: v})
	fmt.Println("produce", topic, size, "->", res.FirstErr())
	return nil
}

// consume joins group and polls topic once.
func consume(addr, user, pass, topic, group string) error {
	cl, err := client(addr, user, pass, "PLAIN", kgo.ConsumeTopics(topic), kgo.ConsumerGroup(group))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	fs := cl.PollFetches(ctx)
	fmt.Println("consume", topic, group, "->", fs.Errors())
	return nil
}
