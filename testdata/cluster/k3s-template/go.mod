module k3s-template

go 1.19
