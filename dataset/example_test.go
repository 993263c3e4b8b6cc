package dataset_test

import (
	"fmt"
	"testing/fstest"

	"github.com/bottleneck-ml/bottleneck/dataset"
)

func Example() {
	files := fstest.MapFS{
		"train.csv": {Data: []byte("duration,proto,label\n1,tcp,normal\n3,udp,normal\n2,tcp,attack\n")},
		"test.csv":  {Data: []byte("duration,proto\n2,tcp\n9,icmp\n")},
	}
	train, err := dataset.LoadFS(files, "train.csv", dataset.LoadOptions{Label: "label", Normal: "normal"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(train.Features, train.X.Shape)
	fmt.Println(train.X.Data)

	// Score another file with the preprocessing stored in the model.
	test, err := dataset.LoadWithFS(files, "test.csv", train.Pre, dataset.LoadOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(test.X.Data, test.Unknown)

	for i, batch := range dataset.NewBatcher(train, 1, 42).All(0) {
		fmt.Println(i, batch.Shape)
	}
	// Output:
	// [duration proto=tcp proto=udp] [2 3]
	// [-1 1 0 1 0 1]
	// [0 1 0 7 0 0] map[proto:1]
	// 0 [1 3]
	// 1 [1 3]
}
