// Command mongopeer is the lab's MongoDB client: the official Go driver
// (go.mongodb.org/mongo-driver/v2) running the operations named on its
// command line against one server, to stage the failures dlltagent reads
// in MongoDB's replies. The server is FerretDB (scripts/lab.sh, with
// LAB_MONGODB=1): no MongoDB server runs here. Its own module, so the
// agent's does not depend on the driver.
//
//	mongopeer URI OP...
//
// OPs: ping, insert (into app.orders), find, dup (a duplicate _id: an
// application's error, not reported), search (createSearchIndexes, an
// Atlas command other servers lack), mapreduce, pause (1 s), insert-2s
// (an insert the client waits 2 s for at most).
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: mongopeer URI OP...")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := mongo.Connect(options.Client().ApplyURI(os.Args[1]).SetServerSelectionTimeout(3 * time.Second).SetAppName("mongopeer"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "mongopeer:", err)
		os.Exit(1)
	}
	defer c.Disconnect(ctx)
	orders := c.Database("app").Collection("orders")
	failed := false
	for _, op := range os.Args[2:] {
		var err error
		switch op {
		case "ping":
			err = c.Database("admin").RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Err()
		case "insert":
			_, err = orders.InsertOne(ctx, bson.D{{Key: "item", Value: "book"}, {Key: "qty", Value: 1}})
		case "find":
			var r bson.M
			err = orders.FindOne(ctx, bson.D{}).Decode(&r)
		case "dup":
			u := c.Database("app").Collection("users")
			u.InsertOne(ctx, bson.D{{Key: "_id", Value: 7}}) // may exist from an earlier run
			_, err = u.InsertOne(ctx, bson.D{{Key: "_id", Value: 7}})
		case "search":
			_, err = orders.SearchIndexes().CreateOne(ctx, mongo.SearchIndexModel{Definition: bson.D{{Key: "mappings", Value: bson.D{{Key: "dynamic", Value: true}}}}})
		case "pause":
			time.Sleep(time.Second) // (the lab stops or kills the server meanwhile)
		case "insert-2s":
			c2, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err = orders.InsertOne(c2, bson.D{{Key: "item", Value: "slow"}})
			cancel()
		case "mapreduce":
			err = c.Database("app").RunCommand(ctx, bson.D{{Key: "mapReduce", Value: "orders"}, {Key: "map", Value: "function(){}"}, {Key: "reduce", Value: "function(){}"}, {Key: "out", Value: bson.D{{Key: "inline", Value: 1}}}}).Err()
		default:
			err = fmt.Errorf("unknown operation")
		}
		fmt.Printf("%s: %v\n", op, err)
		failed = failed || err != nil
	}
	if failed {
		os.Exit(1)
	}
}
