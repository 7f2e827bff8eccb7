module ferry.dev/cross/peers/countproxy

go 1.26
