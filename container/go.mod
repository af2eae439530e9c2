module go-time-service

go 1.19
